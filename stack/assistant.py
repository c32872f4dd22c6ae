"""The processes of one assistant stack: sandbox backends, action server and Rasa server."""

from __future__ import annotations

import base64
import functools
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stack.processes import Service
from stack.redis_choice import RedisTarget

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Ports:
    rasa: int = 5005
    actions: int = 5055
    backends: int = 5080
    portal: int | None = None  # the demo district portal (web/); None: not started

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            rasa=int(os.environ.get("RASA_PORT", 5005)),
            actions=int(os.environ.get("ACTION_PORT", 5055)),
            backends=int(os.environ.get("BACKENDS_PORT", 5080)),
            portal=int(os.environ.get("PORTAL_PORT", 8080)),
        )


@dataclass
class StackConfig:
    """Everything needed to start a stack; tests build one with their own ports and prefix."""

    rasa_bin: str
    actions_python: str
    model: str
    ports: Ports = field(default_factory=Ports)
    redis: RedisTarget | None = None
    redis_key_prefix: str = "minsheng"
    var_dir: Path = ROOT / "var"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    def common_env(self) -> dict[str, str]:
        env = {
            "PYTHONPATH": str(ROOT),
            "ACTION_SERVER_URL": f"http://127.0.0.1:{self.ports.actions}/webhook",
            "BACKENDS_URL": f"http://127.0.0.1:{self.ports.backends}",
            "REDIS_KEY_PREFIX": self.redis_key_prefix,
            "MINSHENG_VAR_DIR": str(self.var_dir),
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        if self.redis is not None:
            env.update(self.redis.env())
        env.update(self.extra_env)
        return env

    @functools.cached_property
    def pii_key(self) -> str:
        """MINSHENG_PII_KEY for the action server (its vault of personal values, see
        actions/vault.py): from ``extra_env`` or the environment, else an ephemeral key made
        now, with a warning (forms in progress forget their phone when the stack restarts)."""
        key = self.extra_env.get("MINSHENG_PII_KEY") or os.environ.get("MINSHENG_PII_KEY")
        if key:
            return key
        print(
            "\033[1;33mwarning:\033[0m MINSHENG_PII_KEY is not set: using an ephemeral key "
            "for this run (phone numbers of forms in progress are forgotten on restart).",
            file=sys.stderr,
        )
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")

    def endpoints_file(self) -> Path:
        """bot/endpoints.yml, or a copy with in-memory stores when there is no Redis."""
        source = ROOT / "bot" / "endpoints.yml"
        if self.redis is not None:
            return source
        endpoints = yaml.safe_load(source.read_text(encoding="utf-8"))
        # still masked (and the Rasa process's logs too): channels/tracker_store.py
        endpoints["tracker_store"] = {
            "type": "channels.tracker_store.MaskingInMemoryTrackerStore"}
        endpoints.pop("lock_store", None)
        target = self.var_dir / "run" / "endpoints.in-memory.yml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
        return target


def build_services(config: StackConfig) -> Sequence[Service]:
    """The services in start order; each is healthy before the next one starts."""
    env = config.common_env()
    logs = config.log_dir
    backends = Service(
        name="sandbox backends",
        argv=[
            config.actions_python, "-m", "backends.sandbox",
            "--port", str(config.ports.backends),
            "--data-dir", str(config.var_dir / "sandbox"),
        ],
        health_url=f"http://127.0.0.1:{config.ports.backends}/health",
        log_path=logs / "backends.log",
        env=env,
        cwd=ROOT,
    )
    actions = Service(
        name="action server",
        argv=[config.actions_python, "-m", "actions.server", "--port", str(config.ports.actions)],
        health_url=f"http://127.0.0.1:{config.ports.actions}/health",
        log_path=logs / "actions.log",
        env={**env, "MINSHENG_PII_KEY": config.pii_key},
        cwd=ROOT,
    )
    rasa = Service(
        name="Rasa server",
        argv=[
            config.rasa_bin, "run",
            "--model", config.model,
            "--endpoints", str(config.endpoints_file()),
            "--credentials", str(ROOT / "bot" / "credentials.yml"),
            "--port", str(config.ports.rasa),
            "--interface", "127.0.0.1",
            "--cors", "*",
        ],
        health_url=f"http://127.0.0.1:{config.ports.rasa}/webhooks/rest/",
        log_path=logs / "rasa.log",
        # The NLU's embedding featurizer multiplies small matrices per message (nlu/encoder.py);
        # with OpenBLAS's default of a thread per core, its idle threads spin on the other
        # core between messages.
        env={"OPENBLAS_NUM_THREADS": "1", **env},
        cwd=ROOT,
    )
    if config.ports.portal is None:
        return [backends, actions, rasa]
    portal = Service(
        name="demo portal",
        argv=[
            config.actions_python, "-m", "web.portal_server",
            "--port", str(config.ports.portal),
            "--assistant-url", f"http://127.0.0.1:{config.ports.rasa}",
        ],
        health_url=f"http://127.0.0.1:{config.ports.portal}/health",
        log_path=logs / "portal.log",
        env=env,
        cwd=ROOT,
    )
    return [backends, actions, rasa, portal]
