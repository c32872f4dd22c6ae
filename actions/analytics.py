"""Records what content staff need to see (read by ``scripts/kb report``, knowledge/report.py):

- ``<prefix>:app:kb:questions``: every question the knowledge action handled — ``q`` (masked),
  ``outcome`` (answer / clarify / none), ``kb_id`` (the entry answered or offered first),
  ``area``, ``channel``, ``resident`` (a hash), ``ts``;
- ``<prefix>:app:kb:unanswered``: the ``none`` outcomes — ``q``, ``area`` (the resident's chosen
  area, if any), ``channel``, ``resident``, ``ts``.

Both are capped streams with a TTL; recording never fails the conversation.
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis.asyncio as aioredis

from actions import store
from privacy import mask_text

logger = logging.getLogger(__name__)

UNANSWERED_TTL = 180 * 24 * 3600
UNANSWERED_MAX = 50_000


def resident_ref(sender_id: str) -> str:
    """A stable, non-reversible reference to a resident for counting, not the sender id."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:16]


async def _append(stream_name: str, fields: dict[str, str]) -> None:
    redis = store.client()
    if redis is None:
        return
    stream = store.key("kb", stream_name)
    try:
        await redis.xadd(stream, fields, maxlen=UNANSWERED_MAX, approximate=True)
        await redis.expire(stream, UNANSWERED_TTL)
    except (aioredis.RedisError, OSError):
        logger.warning("could not record a question in %s", stream_name, exc_info=True)


async def record_unanswered(
    question: str, channel: str | None, sender_id: str, area: str | None = None
) -> None:
    """Appends the question to the unanswered stream; never fails the conversation."""
    if not question:
        return
    await _append("unanswered", {
        "q": mask_text(question)[:500],  # phone, 身份证, card numbers masked (privacy/)
        "area": area or "",
        "channel": channel or "",
        "resident": resident_ref(sender_id),
        "ts": str(int(time.time())),
    })


async def record_question(
    question: str, outcome: str, *, kb_id: str | None, area: str | None,
    channel: str | None, sender_id: str,
) -> None:
    """Appends one handled question to the questions stream (a picked suggestion has no text of
    its own: ``q`` is empty, ``kb_id`` names the entry)."""
    await _append("questions", {
        "q": "" if question.startswith("/") else mask_text(question)[:500],
        "outcome": outcome,
        "kb_id": kb_id or "",
        "area": area or "",
        "channel": channel or "",
        "resident": resident_ref(sender_id),
        "ts": str(int(time.time())),
    })
