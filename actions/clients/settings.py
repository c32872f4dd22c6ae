"""Where the backends are and how patiently to call them, from the environment.

- ``BACKENDS_URL`` (default ``http://127.0.0.1:5080``): the sandbox; each service is under
  ``/<service>/v1``
- ``TICKETS_API_URL``, ``HOSPITALS_API_URL``, ``ELDERCARE_API_URL``, ``TOURISM_API_URL``,
  ``APPLICATIONS_API_URL``: a service's full base URL (with its version path), overriding
  ``BACKENDS_URL`` for that service
- ``BACKENDS_TIMEOUT`` (3.0): seconds for one HTTP request
- ``BACKENDS_DEADLINE`` (4.5, at most 5): seconds for a whole call, retries and back-off included

The deadline stays under 5 s so that an action facing a slow backend still apologises within
5 s, far inside Rasa's own action-server timeout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SERVICES = ("tickets", "hospitals", "eldercare", "tourism", "applications")
DEFAULT_BACKENDS_URL = "http://127.0.0.1:5080"
MAX_DEADLINE = 5.0


class ClientSettingsError(ValueError):
    """A setting is unusable; the message names the variable."""


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientSettingsError(f"{name} must be an http(s) URL with a host, not {url!r}")
    if parts.query or parts.fragment:
        raise ClientSettingsError(f"{name} must not have a query or fragment")
    return url.rstrip("/")


@dataclass(frozen=True)
class ClientSettings:
    urls: Mapping[str, str] = field(default_factory=dict)
    request_timeout: float = 3.0
    connect_timeout: float = 1.0
    deadline: float = 4.5
    max_attempts: int = 3
    backoff_base: float = 0.1
    backoff_max: float = 1.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 10.0
    max_response_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.request_timeout <= self.deadline:
            raise ClientSettingsError("the request timeout must be positive and ≤ the deadline")
        if self.max_attempts < 1 or self.breaker_threshold < 1:
            raise ClientSettingsError("max_attempts and breaker_threshold must be ≥ 1")

    def url(self, service: str) -> str:
        """The base URL of a service, e.g. ``http://127.0.0.1:5080/tickets/v1``."""
        if service in self.urls:
            return self.urls[service]
        return f"{DEFAULT_BACKENDS_URL}/{service}/v1"

    @classmethod
    def for_base_url(cls, base_url: str, **overrides: object) -> ClientSettings:
        """Every service under one base URL (the sandbox), with other fields overridden."""
        base = _check_url("base_url", base_url)
        urls = {service: f"{base}/{service}/v1" for service in SERVICES}
        return cls(urls=urls, **overrides)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientSettings:
        env = os.environ if env is None else env
        base = _check_url("BACKENDS_URL", env.get("BACKENDS_URL", "").strip()
                          or DEFAULT_BACKENDS_URL)
        urls = {}
        for service in SERVICES:
            name = f"{service.upper()}_API_URL"
            override = env.get(name, "").strip()
            urls[service] = _check_url(name, override) if override else f"{base}/{service}/v1"
        timeout = _seconds(env, "BACKENDS_TIMEOUT", 3.0)
        deadline = _seconds(env, "BACKENDS_DEADLINE", 4.5)
        if deadline > MAX_DEADLINE:
            raise ClientSettingsError(f"BACKENDS_DEADLINE must be at most {MAX_DEADLINE} s")
        return cls(urls=urls, request_timeout=min(timeout, deadline), deadline=deadline)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ClientSettingsError(f"{name} must be a number of seconds, not {raw!r}") from error
    if not 0.05 <= value <= 60:
        raise ClientSettingsError(f"{name} must be between 0.05 and 60 seconds")
    return value
