"""Configuration of the WeChat channel, validated in one place.

Secrets come from the environment, never from a file: ``WECHAT_TOKEN``,
``WECHAT_ENCODING_AES_KEY``, ``WECHAT_APP_ID``, ``WECHAT_APP_SECRET`` and ``WECHAT_API_BASE``
(WeChat's API base URL, so a sandbox can stand in for it). Redis comes from ``REDIS_URL`` and
``REDIS_KEY_PREFIX``, as for the rest of the stack. Non-secret options (the menu table, the
passive-reply budget …) come from the channel's entry in ``bot/credentials.yml``.

When none of the ``WECHAT_*`` secrets is set the channel is *not configured*: Rasa starts, the
webhook answers 503. When some are set but not all, or one is malformed, :class:`ConfigError`
says which and why: a half-configured public endpoint is a mistake to fix, not to run.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from channels.text import clean_message

DEFAULT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_VARS = ("WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET")
REQUIRED_VARS = ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET")

# The admin console accepts a Token of 3-32 letters or digits, and generates a 43-character
# EncodingAESKey (base64 of 32 bytes without the trailing "=").
_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")
_APP_ID = re.compile(r"^wx[A-Za-z0-9]{8,32}$")
_MENU_KEY = re.compile(r"^[\w\-.:]{1,128}$")

DEFAULT_MENU: dict[str, str] = {
    "MENU_ZHENGWU": '/choose_area{"area": "政务服务"}',
    "MENU_YANGLAO": '/choose_area{"area": "养老"}',
    "MENU_YILIAO": '/choose_area{"area": "医疗"}',
    "MENU_WENLV": '/choose_area{"area": "文旅"}',
    "MENU_HELP": "/ask_capabilities",
    "MENU_HUMAN": "/request_human",
}


class ConfigError(ValueError):
    """The channel's configuration is incomplete or malformed; the message says how to fix it."""


def valid_encoding_aes_key(key: str) -> bool:
    """True if ``key`` is a 43-character EncodingAESKey that decodes to a 32-byte AES key."""
    if not _AES_KEY.match(key):
        return False
    try:
        return len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


@dataclass(frozen=True)
class WeChatSettings:
    """Everything the channel needs. Secrets are kept out of ``repr``."""

    token: str = field(repr=False)
    app_id: str
    app_secret: str = field(repr=False)
    encoding_aes_key: str | None = field(default=None, repr=False)
    api_base: str = DEFAULT_API_BASE
    redis_url: str = field(default=DEFAULT_REDIS_URL, repr=False)
    key_prefix: str = "minsheng:wechat"
    menu: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MENU))
    menu_default: str = "/ask_capabilities"
    require_encryption: bool = False
    passive_reply_seconds: float = 4.5
    timestamp_tolerance_seconds: int = 300
    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 2000
    max_text_bytes: int = 2048
    max_customer_service_messages: int = 5
    dedup_ttl_seconds: int = 600
    options_ttl_seconds: int = 3600
    processing_timeout_seconds: float = 120.0
    api_timeout_seconds: float = 5.0
    redis_timeout_seconds: float = 2.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], options: Mapping[str, Any] | None = None
    ) -> WeChatSettings | None:
        """Settings from the environment and the credentials options; ``None`` when none of the
        ``WECHAT_*`` secrets is set (the channel is then not configured)."""
        options = dict(options or {})
        values = {name: (environ.get(name) or "").strip() for name in SECRET_VARS}
        if not any(values.values()):
            return None
        missing = [name for name in REQUIRED_VARS if not values[name]]
        if missing:
            raise ConfigError(
                f"wechat channel: {', '.join(missing)} not set (WECHAT_TOKEN, WECHAT_APP_ID and "
                "WECHAT_APP_SECRET are needed together; unset all WECHAT_* to disable the channel)"
            )
        prefix = (environ.get("REDIS_KEY_PREFIX") or "minsheng").strip() or "minsheng"
        known = {f for f in cls.__dataclass_fields__ if f not in _NOT_OPTIONS}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"wechat channel: unknown option(s) in credentials: {unknown}")
        settings = cls(
            token=values["WECHAT_TOKEN"],
            app_id=values["WECHAT_APP_ID"],
            app_secret=values["WECHAT_APP_SECRET"],
            encoding_aes_key=values["WECHAT_ENCODING_AES_KEY"] or None,
            api_base=(environ.get("WECHAT_API_BASE") or DEFAULT_API_BASE).strip().rstrip("/"),
            redis_url=(environ.get("REDIS_URL") or DEFAULT_REDIS_URL).strip(),
            key_prefix=f"{prefix}:wechat",
            **options,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raises :class:`ConfigError` naming the first problem found."""
        if not _TOKEN.match(self.token):
            raise ConfigError("wechat channel: WECHAT_TOKEN must be 3-32 letters or digits")
        if self.encoding_aes_key is not None and not valid_encoding_aes_key(
            self.encoding_aes_key
        ):
            raise ConfigError(
                "wechat channel: WECHAT_ENCODING_AES_KEY must be the 43-character key from the "
                "admin console (scripts/wechat-config --new-key makes one)"
            )
        if not _APP_ID.match(self.app_id):
            raise ConfigError("wechat channel: WECHAT_APP_ID must look like wx followed by letters "
                              "and digits")
        if not 1 <= len(self.app_secret) <= 128 or any(c.isspace() for c in self.app_secret):
            raise ConfigError("wechat channel: WECHAT_APP_SECRET is malformed")
        parsed = urlparse(self.api_base)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError("wechat channel: WECHAT_API_BASE must be an http(s) URL")
        if not isinstance(self.menu, Mapping):
            raise ConfigError("wechat channel: 'menu' must map CLICK keys to payloads")
        for key, payload in {**self.menu, "(menu_default)": self.menu_default}.items():
            if key != "(menu_default)" and not _MENU_KEY.match(str(key)):
                raise ConfigError(f"wechat channel: bad menu key {key!r}")
            if not isinstance(payload, str) or clean_message(payload, 400).text != payload or (
                not payload.startswith("/")
            ):
                raise ConfigError(
                    f"wechat channel: menu entry {key!r} must be an intent payload like "
                    f"'/ask_capabilities' (got {payload!r})"
                )
        if self.require_encryption and self.encoding_aes_key is None:
            raise ConfigError(
                "wechat channel: require_encryption needs WECHAT_ENCODING_AES_KEY"
            )
        if not 0.5 <= self.passive_reply_seconds <= 4.8:
            raise ConfigError("wechat channel: passive_reply_seconds must be within 0.5-4.8 s "
                              "(WeChat gives up after 5 s)")
        positive = (
            "timestamp_tolerance_seconds", "max_body_bytes", "max_message_chars",
            "max_text_bytes", "max_customer_service_messages", "dedup_ttl_seconds",
            "options_ttl_seconds", "processing_timeout_seconds", "api_timeout_seconds",
            "redis_timeout_seconds",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"wechat channel: {name} must be > 0")
        if self.max_text_bytes < 200:
            raise ConfigError("wechat channel: max_text_bytes must be at least 200")
        if self.dedup_ttl_seconds < 60:
            raise ConfigError("wechat channel: dedup_ttl_seconds must cover WeChat's retries "
                              "(at least 60)")


# Fields that come from the environment, not from credentials.yml options.
_NOT_OPTIONS = frozenset(
    {"token", "app_id", "app_secret", "encoding_aes_key", "api_base", "redis_url", "key_prefix"}
)
