"""12345 hotline voice channel: the AudioCodes VoiceAI Connect "AC Bot API" in HTTP mode.

The gateway recognises speech, posts text to the bot and speaks what comes back. Mounted at
``/webhooks/voice/`` by ``bot/credentials.yml`` (``channels.voice.VoiceInput``).

Modules: :mod:`~channels.voice.protocol` (wire format, pure), :mod:`~channels.voice.policy`
(what to do with an activity, pure), :mod:`~channels.voice.render` (bot messages -> gateway
answer, pure), :mod:`~channels.voice.speakable` (written -> spoken Chinese, pure),
:mod:`~channels.voice.state` (per-call state in Redis), :mod:`~channels.voice.channel` (the Rasa
``InputChannel``/``OutputChannel``).

What of the AC Bot API is implemented, and how faithfully
==========================================================

From AudioCodes' documentation ("Bot API", HTTP mode) and their reference servers
(``ac-api-samples``, the ``rasa-audiocodes`` channel):

- Authentication: ``Authorization: Bearer <token>`` on every request; a wrong or missing token
  is 401. The token comes from ``VOICE_BOT_TOKEN``; without it every route but the health check
  answers 503 (logged once at start-up), and Rasa still starts.
- Bot validation: ``GET <botURL>`` answers ``{"type": "ac-bot-api", "success": true}``.
- Conversation start: ``POST <botURL>`` with ``{"conversation": "<id>", ...}`` answers
  ``activitiesURL``, ``refreshURL``, ``disconnectURL`` (relative to the bot URL, as in
  AudioCodes' samples, or absolute with ``public_base_url``) and ``expiresSeconds``. The bot URL
  to configure on the gateway is ``https://<host>/webhooks/voice/CreateConversation``.
- Activities: ``POST activitiesURL`` with ``{"conversation", "activities": [...]}``; the answer is
  ``{"activities": [...]}``, each with ``id`` and ``timestamp``:

  - ``message`` with ``text`` and ``parameters.confidence`` (the speech-to-text confidence);
  - ``event`` ``start`` (``parameters.caller`` …): the greeting; our first answer also carries a
    ``config`` event with ``sessionParams`` (``language``, ``bargeIn``, ``sendDTMF``,
    ``sendEventsToBot: ["noUserInput"]``, ``userNoInputTimeoutMS``, ``userNoInputRetries``);
  - ``event`` ``DTMF`` with the digits in ``value``; ``event`` ``noUserInput`` with the count in
    ``value``; ``event`` ``transferStatus`` (``value.status == "failed"``); other events are
    acknowledged and ignored;
  - answers: ``message`` (text or SSML), ``event`` ``hangup`` (``activityParams.hangupReason``),
    ``event`` ``transfer`` (``activityParams.transferTarget``, ``handoverReason``,
    ``transferSipHeaders``), ``event`` ``abortPrompts``, ``event`` ``config``.
- Keep-alive: ``POST refreshURL`` answers ``{"expiresSeconds": n}``; a conversation neither
  refreshed nor active for ``expiresSeconds`` (+60 s grace) is gone (404).
- Disconnect: ``POST disconnectURL`` (``reason``, ``reasonCode``) ends it and answers ``{}``.
- Activities are deduplicated by ``id``: a re-sent activity gets the answer already given
  (waiting briefly if it is still being computed) and never reaches Rasa twice.

Where we had to infer
---------------------

- ``sttConfidence`` is accepted as well as ``parameters.confidence``; a confidence over 1 is read
  as a percentage.
- Barge-in in HTTP mode: a new activities request for a conversation whose previous request is
  still being answered makes the older answer stale; it is answered with no activities, and the
  newer answer starts with ``abortPrompts`` (an event name from AudioCodes' own SDK) so that
  nothing queued on the gateway is played over the caller.
- The transfer summary goes in ``handoverReason`` (free text), the reason code and our
  conversation id in ``transferSipHeaders`` (ASCII only, ``X-Minsheng-*``).
- Whether the gateway's TTS takes SSML is a deployment fact: ``ssml: true`` in the credentials
  sends ``<speak>`` documents, otherwise plain text.
- The WebSocket mode, ``playUrl`` and speaker verification are not implemented.

Ours, not the gateway's: the recognition policy (:mod:`~channels.voice.policy`), DTMF menus
from response buttons (0 is always the human hand-off), and the "send me the details" requests,
which go to the Redis stream ``<prefix>:voice:outbox`` (conversation, caller, medium, full
answer) for an SMS/WeChat sender that does not exist yet.
"""

from typing import Any

__all__ = ["VoiceInput", "VoiceOutput"]


def __getattr__(name: str) -> Any:
    # The channel classes need Rasa (Python 3.10); the pure modules (speakable, render, policy,
    # protocol) are also used by tests and tools on the 3.11 side, so Rasa loads only on demand.
    if name in __all__:
        from channels.voice import channel

        return getattr(channel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
