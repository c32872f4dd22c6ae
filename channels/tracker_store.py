"""The Rasa server's tracker stores, with personal numbers masked before a conversation is stored
(个人信息保护法): phone, 身份证, bank card and 社保/医保 card numbers in the resident's messages,
the parse data (text, entities), slot values, the bot's messages and event metadata
(:func:`privacy.mask_data` over every event; see :mod:`privacy.detect` for the rules).

Configured in ``bot/endpoints.yml`` by module path::

    tracker_store:
      type: channels.tracker_store.MaskingRedisTrackerStore
      url: ${REDIS_HOST}
      ...

Rasa 3.6 loads a tracker store whose ``type`` is not one of its own names with
``class_from_module_path(type)`` and calls it with ``host=<url>, domain=..., event_broker=...``
and every other key of the section as a keyword argument (``port``, ``db``, ``password``,
``key_prefix``, ``record_exp``, ``use_ssl``), the same as its ``RedisTrackerStore``. Careful:
if the import or the constructor raises ``ImportError`` or ``AttributeError``, Rasa only warns
and falls back to an in-memory store — ``tests/privacy/test_stored_conversations.py`` checks
that the conversation really is in Redis.

Only the stored copy is masked: within a turn Rasa and the actions see what the resident typed
(a form's validator reads the phone from the message and keeps it in the action server's
encrypted vault, see :mod:`actions.vault`); from the next turn on, the tracker read back from
Redis holds only masked numbers. The conversation id (``sender_id``, the Redis key) is kept as
it is: channels use opaque ids, never a phone number.

Creating either store also installs the log masking of :mod:`privacy.logs` for the whole Rasa
process, so that Rasa, Sanic and the channels never log a number in clear, and the measured
speed-ups of :mod:`channels.speedups` (every Rasa server of this project builds one of these
stores at start-up).

**A store that cannot be reached fails the turn.** Rasa wraps every tracker store in a
``FailSafeTrackerStore``: a ``retrieve`` that raises returns None, so Rasa silently starts a
*new* conversation (a form half filled in is forgotten and the resident's "明德街道" gets no
answer at all), and a ``save`` that raises goes to an in-memory store nobody reads. Once Redis is
back, that fresh conversation can overwrite the real one. :func:`fail_turns_on_store_errors`
(called by :func:`channels.gate.screen`, which every channel calls before each turn) sets the
wrapper's error callback so both raise :class:`TrackerStoreUnavailable` instead: the channel
answers "unavailable, please retry" (REST 503, WeChat's apology), the stored conversation is
untouched, and the resident's retry continues it where it was.
"""

from __future__ import annotations

import json
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    InMemoryTrackerStore,
    RedisTrackerStore,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

from channels import speedups
from privacy import install_log_masking, mask_data


class TrackerStoreUnavailable(RuntimeError):
    """The conversation store cannot be read or written now (Redis away): the turn fails."""


def _raise_unavailable(error: Exception) -> None:
    raise TrackerStoreUnavailable(f"tracker store: {type(error).__name__}: {error}") from error


def fail_turns_on_store_errors(app: Any) -> bool:
    """Makes the Rasa server's tracker store raise :class:`TrackerStoreUnavailable` on an error
    instead of falling back to a new conversation (see the module docstring). ``app`` is the
    Rasa Sanic app; idempotent and cheap. False when there is no agent (yet)."""
    store = getattr(getattr(getattr(app, "ctx", None), "agent", None), "tracker_store", None)
    if not isinstance(store, FailSafeTrackerStore):
        return False
    if store._on_tracker_store_error is not _raise_unavailable:
        store._on_tracker_store_error = _raise_unavailable
    return True


def masked_dialogue(tracker: DialogueStateTracker) -> dict[str, Any]:
    """The serialised conversation (``{"events": [...], "name": sender_id}``), masked."""
    dialogue = tracker.as_dialogue().as_dict()
    dialogue["events"] = mask_data(dialogue.get("events") or [])
    return dialogue


class _Masking:
    """What both stores share: the masked serialisation and masked event streaming."""

    @staticmethod
    def serialise_tracker(tracker: DialogueStateTracker) -> str:
        return json.dumps(masked_dialogue(tracker))

    async def _stream_new_events(
        self, event_broker: EventBroker, new_events: list[Event], sender_id: str
    ) -> None:
        for event in new_events:
            body: dict[str, Any] = {"sender_id": sender_id}
            body.update(mask_data(event.as_dict()))
            event_broker.publish(body)


class MaskingRedisTrackerStore(_Masking, RedisTrackerStore):
    """Rasa's ``RedisTrackerStore`` (same settings, same keys ``<key_prefix>:tracker:<id>``),
    storing conversations masked."""

    def __init__(self, domain: Domain, **kwargs: Any) -> None:
        install_log_masking()
        speedups.install()
        super().__init__(domain, **kwargs)
        # As in channels/lock_store.py: a connection idle for over a second is PINGed (and
        # reconnected once) before use, so a pooled connection left over from before a Redis
        # restart does not fail the first turn after it.
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        pool = self.red.connection_pool
        self.red = type(self.red)(connection_pool=type(pool)(
            **{**pool.connection_kwargs, "health_check_interval": 1,
               "retry": Retry(NoBackoff(), 1)},
            connection_class=pool.connection_class,
        ))

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        """Rasa's ``save``, which reads the stored conversation back, deserialises it and
        merges it with ``tracker`` on every turn (``retrieve`` returns only the latest session,
        so earlier sessions must be kept). Here that merge runs only when it can change
        something: when the stored events are not a prefix of ``tracker``'s (an earlier session
        is stored, or another process saved in between). A conversation that simply grew by a
        turn is written as it is — the result Rasa's merge would give, without its cost."""
        await self.stream_events(tracker)
        if not timeout and self.record_exp:
            timeout = self.record_exp
        key = self.key_prefix + tracker.sender_id
        dialogue = masked_dialogue(tracker)
        stored = self.red.get(key)
        if stored is not None and not _extends(stored, dialogue["events"]):
            prior = self.deserialise_tracker(tracker.sender_id, stored)
            if prior is not None:
                dialogue = masked_dialogue(self._merge_trackers(prior, tracker))
        self.red.set(key, json.dumps(dialogue), ex=timeout)


def _extends(stored: str | bytes, events: list[dict[str, Any]]) -> bool:
    """Whether the stored conversation's events are the first events of ``events``."""
    try:
        prior = json.loads(stored).get("events") or []
    except (ValueError, AttributeError):
        return False
    return len(prior) <= len(events) and events[: len(prior)] == prior


class MaskingInMemoryTrackerStore(_Masking, InMemoryTrackerStore):
    """Rasa's ``InMemoryTrackerStore``, masked the same way: used when no Redis is available
    (``stack.assistant.StackConfig.endpoints_file``), so a conversation behaves the same with
    and without Redis."""

    def __init__(
        self, domain: Domain, event_broker: EventBroker | None = None, **kwargs: Any
    ) -> None:
        install_log_masking()
        speedups.install()
        super().__init__(domain, event_broker, **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        self.store[tracker.sender_id] = self.serialise_tracker(tracker)
