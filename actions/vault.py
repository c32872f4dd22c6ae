"""Personal values a task needs on a later turn, kept out of the stored conversation
(个人信息保护法).

The conversation Rasa keeps in Redis is masked (:mod:`channels.tracker_store`): a phone typed
in one turn reads ``138****5678`` on the next one, when the resident confirms and the booking is
made. So the form's validator keeps the real number here and the ``phone`` slot holds a
*reference* to it::

    slot phone          pimkbdoegcpajlhnfbkcoedmkghn   (letters only: never masked, never a number)
    slot phone_masked   138****5678                    (the read-backs show only this)
    <REDIS_KEY_PREFIX>:app:pii:<reference>
                        Fernet token (MINSHENG_PII_KEY) of {"s": sender hash, "k": kind, "v": value}
                        TTL MINSHENG_PII_TTL seconds (default 2 h), renewed on every use

The submit step of a form resolves the reference right before calling the backend
(:class:`actions.forms.FormSubmitAction`): backends receive the real value only where the task
needs it, and nothing else — not the tracker, not the logs, not analytics — ever holds it.

- A reference is an HMAC of (kind, conversation, value) under a key derived from
  ``MINSHENG_PII_KEY``: the same number in the same conversation gives the same reference, so a
  validator can tell "the number we have" without reading the vault. It resolves only for the
  conversation that stored it.
- ``MINSHENG_PII_KEY``: a Fernet key (``python -c "from cryptography.fernet import Fernet;
  print(Fernet.generate_key().decode())"``), or several separated by commas to rotate keys (the
  first encrypts, all decrypt). Every action server of a deployment needs the same value.
  Unset, the action server makes an ephemeral key and warns; ``scripts/run`` and the test
  stacks do the same for the processes they start. A phone stored under a key that is gone, or
  whose TTL ran out, is simply asked again.
- Without Redis (``REDIS_URL`` unset) the values are kept in this process's memory, encrypted
  the same way.

Nothing here does I/O at import; the vault is created on first use (:func:`get_vault`).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence

import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from actions import store
from actions.clients.errors import BackendUnavailable

logger = logging.getLogger(__name__)

KEY_ENV, TTL_ENV = "MINSHENG_PII_KEY", "MINSHENG_PII_TTL"
DEFAULT_TTL = 2 * 3600
_PREFIX = "pi"
_REFERENCE = re.compile(r"pi[a-p]{26}")
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
_MEMORY_MAX = 10_000


class VaultError(BackendUnavailable):
    """The vault cannot be used now (Redis down); the form apologises like for any backend."""

    def __init__(self, message: str) -> None:
        super().__init__(message, service="vault")


class VaultMiss(VaultError):
    """A reference that no longer resolves (its TTL ran out, or the key changed)."""


class VaultConfigError(ValueError):
    """MINSHENG_PII_KEY or MINSHENG_PII_TTL is malformed (the message never quotes the key)."""


def is_reference(value: object) -> bool:
    """Is ``value`` a vault reference (rather than a phone number)?"""
    return isinstance(value, str) and _REFERENCE.fullmatch(value) is not None


def _resident(sender_id: str) -> str:
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:16]


def keys_from_env(env: Mapping[str, str]) -> list[bytes]:
    """The Fernet keys in MINSHENG_PII_KEY (comma-separated, the first encrypts); [] if unset."""
    raw = (env.get(KEY_ENV) or "").strip()
    keys = [part.strip().encode("ascii", "replace") for part in raw.split(",") if part.strip()]
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, binascii.Error):
            raise VaultConfigError(
                f"{KEY_ENV}: key {number} is not a Fernet key (32 bytes, url-safe base64); make "
                "one with: python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\""
            ) from None
    return keys


def ttl_from_env(env: Mapping[str, str]) -> int:
    raw = (env.get(TTL_ENV) or "").strip()
    if not raw:
        return DEFAULT_TTL
    try:
        ttl = int(raw)
    except ValueError:
        raise VaultConfigError(f"{TTL_ENV} must be a number of seconds, not {raw[:20]!r}") from None
    if not 60 <= ttl <= 7 * 86400:
        raise VaultConfigError(f"{TTL_ENV} must be between 60 and 604800 seconds")
    return ttl


class Vault:
    """Encrypted, short-lived personal values, by reference."""

    def __init__(
        self,
        keys: Sequence[bytes],
        ttl: int = DEFAULT_TTL,
        redis: Callable[[], aioredis.Redis | None] = store.client,
    ) -> None:
        if not keys:
            raise VaultConfigError("the vault needs at least one key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._reference_key = hashlib.sha256(b"minsheng-pii-reference\0" + keys[0]).digest()
        self.ttl = ttl
        self._redis = redis
        self._memory: dict[str, tuple[float, str]] = {}

    def reference(self, sender_id: str, kind: str, value: str) -> str:
        """The reference of ``value`` in this conversation (no I/O)."""
        digest = hmac.new(self._reference_key, f"{kind}\0{sender_id}\0{value}".encode(),
                          hashlib.sha256).hexdigest()
        return _PREFIX + digest[:26].translate(_LETTERS)

    async def put(self, sender_id: str, kind: str, value: str) -> str:
        """Keeps ``value`` for ``ttl`` seconds; returns its reference. Raises VaultError."""
        reference = self.reference(sender_id, kind, value)
        payload = json.dumps({"s": _resident(sender_id), "k": kind, "v": value})
        token = self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")
        client = self._redis()
        if client is None:
            self._remember(reference, token)
            return reference
        try:
            await client.set(store.key("pii", reference), token, ex=self.ttl)
        except (aioredis.RedisError, OSError) as error:
            raise VaultError(f"vault: {type(error).__name__}") from None
        return reference

    async def get(self, sender_id: str, reference: str) -> str | None:
        """The value behind ``reference`` for this conversation (its TTL renewed), or None if
        there is none (expired, another conversation's, another key's). Raises VaultError."""
        if not is_reference(reference):
            return None
        client = self._redis()
        if client is None:
            token = self._recall(reference)
        else:
            key = store.key("pii", reference)
            try:
                async with client.pipeline(transaction=False) as pipe:
                    pipe.get(key)
                    pipe.expire(key, self.ttl)
                    token, _ = await pipe.execute()
            except (aioredis.RedisError, OSError) as error:
                raise VaultError(f"vault: {type(error).__name__}") from None
        if not token:
            return None
        try:
            payload = json.loads(self._fernet.decrypt(str(token).encode("ascii")))
        except (InvalidToken, ValueError):
            return None
        if payload.get("s") != _resident(sender_id):
            return None
        value = payload.get("v")
        return value if isinstance(value, str) else None

    def _remember(self, reference: str, token: str) -> None:
        now = time.monotonic()
        if len(self._memory) >= _MEMORY_MAX:
            self._memory = {r: v for r, v in self._memory.items() if v[0] > now}
        self._memory[reference] = (now + self.ttl, token)

    def _recall(self, reference: str) -> str | None:
        entry = self._memory.get(reference)
        if entry is None or entry[0] <= time.monotonic():
            self._memory.pop(reference, None)
            return None
        self._memory[reference] = (time.monotonic() + self.ttl, entry[1])
        return entry[1]


_vault: Vault | None = None


def get_vault() -> Vault:
    """The process's vault, created on first use from MINSHENG_PII_KEY / MINSHENG_PII_TTL.
    Raises VaultConfigError when they are malformed."""
    global _vault
    if _vault is None:
        keys = keys_from_env(os.environ)
        if not keys:
            logger.warning(
                "%s is not set: personal values of forms in progress are encrypted with an "
                "ephemeral key and lost on restart (set it to the same Fernet key on every "
                "action server)", KEY_ENV)
            keys = [Fernet.generate_key()]
        _vault = Vault(keys, ttl_from_env(os.environ))
    return _vault
