"""Records what content staff need to see: questions the knowledge base could not answer."""

from __future__ import annotations

import hashlib
import logging
import re
import time

import redis.asyncio as aioredis

from actions import store

logger = logging.getLogger(__name__)

UNANSWERED_TTL = 180 * 24 * 3600
UNANSWERED_MAX = 50_000
# Long digit runs (phone, ID, card numbers) are masked before anything is stored.
_DIGITS = re.compile(r"\d[\d\s-]{5,}\d[Xx]?")


def mask_numbers(text: str) -> str:
    """Replaces runs of 7+ digits (with spaces or dashes inside) by asterisks."""
    return _DIGITS.sub(lambda m: "*" * len(m.group(0)), text)


def resident_ref(sender_id: str) -> str:
    """A stable, non-reversible reference to a resident for counting, not the sender id."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:16]


async def record_unanswered(question: str, channel: str | None, sender_id: str) -> None:
    """Appends the question to the unanswered stream; never fails the conversation."""
    redis = store.client()
    if redis is None or not question:
        return
    stream = store.key("kb", "unanswered")
    try:
        await redis.xadd(
            stream,
            {
                "q": mask_numbers(question)[:500],
                "channel": channel or "",
                "resident": resident_ref(sender_id),
                "ts": str(int(time.time())),
            },
            maxlen=UNANSWERED_MAX,
            approximate=True,
        )
        await redis.expire(stream, UNANSWERED_TTL)
    except (aioredis.RedisError, OSError):
        logger.warning("could not record an unanswered question", exc_info=True)
