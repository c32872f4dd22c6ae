"""Which Redis the stack uses: REDIS_URL, else the local one, else a private one, else none."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from stack.processes import Service, free_port

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is, in the pieces Rasa's endpoints.yml needs."""

    url: str
    host: str
    port: int
    db: int
    password: str

    @classmethod
    def from_url(cls, url: str) -> RedisTarget:
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss"):
            raise ValueError(f"REDIS_URL must start with redis:// (got {url!r})")
        db_text = parsed.path.lstrip("/") or "0"
        if not db_text.isdigit():
            raise ValueError(f"REDIS_URL has a bad database number {db_text!r}")
        return cls(
            url=url,
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=int(db_text),
            password=unquote(parsed.password or ""),
        )

    def env(self) -> dict[str, str]:
        """The variables bot/endpoints.yml reads."""
        return {
            "REDIS_URL": self.url,
            "REDIS_HOST": self.host,
            "REDIS_PORT": str(self.port),
            "REDIS_DB": str(self.db),
            "REDIS_PASSWORD": self.password,
        }


def ping(url: str, timeout: float = 1.0) -> bool:
    """True if a Redis answers PING at ``url``."""
    import redis  # the actions environment has it; imported here so the module stays light

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def existing_redis(
    say: Callable[[str], None], environ: Mapping[str, str] | None = None
) -> RedisTarget | None:
    """The Redis already there: REDIS_URL (it must answer, else SystemExit with one clear
    sentence), else the local one at 127.0.0.1:6379, else None (the caller decides: a private
    redis-server, in-memory stores, or an error). ``say`` reports the choice."""
    environ = os.environ if environ is None else environ
    url = environ.get("REDIS_URL")
    if url:
        if not ping(url):
            raise SystemExit(f"error: REDIS_URL is set to {url} but no Redis answers there.")
        say(f"Redis: {url} (from REDIS_URL)")
        return RedisTarget.from_url(url)
    if ping(LOCAL_REDIS_URL):
        say(f"Redis: {LOCAL_REDIS_URL}")
        return RedisTarget.from_url(LOCAL_REDIS_URL)
    return None


def start_private_redis(run_dir: Path) -> tuple[RedisTarget, Service] | None:
    """Starts a throw-away redis-server on a free port, or returns None if there is none."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    run_dir.mkdir(parents=True, exist_ok=True)
    service = Service(
        name="redis",
        argv=[
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(run_dir),
        ],
        health_url="",
        log_path=run_dir / "redis.log",
    )
    service.start()
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if ping(url):
            return RedisTarget.from_url(url), service
        time.sleep(0.1)
    service.stop()
    return None
