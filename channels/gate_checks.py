"""The gate's built-in checks (see channels/gate.py for the contract): the rate limit and the
sensitive-word list. Each factory is called once, at the first message, with the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from channels.gate import REPLY, Check, GateMessage, Verdict
from safety.ratelimit import RateLimiter, resident_ref

logger = logging.getLogger(__name__)

RATE_LIMITED_RESPONSE = "utter_rate_limited"
SENSITIVE_RESPONSE = "utter_sensitive_refused"


def rate_limit_check(environ: Mapping[str, str]) -> Check:
    """Per resident and per channel, in Redis (safety/ratelimit.py). An emergency is never
    counted; over a limit the resident gets utter_rate_limited (REST: HTTP 429)."""
    limiter = RateLimiter.from_env(environ)
    if limiter.redis_url is None:
        logger.warning("gate: REDIS_URL is not set, so messages are not rate limited")
    else:
        logger.info("gate: rate limits per resident %s, per channel %s",
                    limiter.resident, limiter.channel)

    async def check(message: GateMessage) -> Verdict | None:
        if message.emergency is not None or not limiter.enabled:
            return None
        decision = await limiter.hit(message.channel, message.sender_id)
        if decision.allowed:
            return None
        logger.info("gate: %s %s over the %s rate limit", message.channel,
                    resident_ref(message.sender_id), decision.scope)
        return Verdict(REPLY, RATE_LIMITED_RESPONSE, "rate_limited", http_status=429,
                       retry_after=decision.retry_after)

    check.limiter = limiter  # type: ignore[attr-defined]  # for tests and shutdown
    return check


def sensitive_words_check(environ: Mapping[str, str]) -> Check:
    """The word list (knowledge/safety/sensitive_words.txt or SENSITIVE_WORDS_FILE): a message
    with a listed word gets utter_sensitive_refused, and the log has its category and the
    message masked, never the text in clear. Emergencies and button payloads are not checked."""
    from safety.words import load, mask

    words = load(environ.get("SENSITIVE_WORDS_FILE") or None)
    logger.info("gate: %d sensitive words loaded", len(words))

    async def check(message: GateMessage) -> Verdict | None:
        if message.emergency is not None or message.is_payload:
            return None
        hits = words.find(message.text)
        if not hits:
            return None
        categories = ",".join(sorted({hit.category for hit in hits}))
        logger.warning("gate: refused a message on %s from %s (sensitive: %s): %s",
                       message.channel, resident_ref(message.sender_id), categories,
                       mask(message.text, hits))
        return Verdict(REPLY, SENSITIVE_RESPONSE, "sensitive")

    return check
