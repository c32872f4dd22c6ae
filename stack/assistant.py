"""The processes of one assistant stack: sandbox backends, action server and Rasa server."""

from __future__ import annotations

import os
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

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            rasa=int(os.environ.get("RASA_PORT", 5005)),
            actions=int(os.environ.get("ACTION_PORT", 5055)),
            backends=int(os.environ.get("BACKENDS_PORT", 5080)),
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

    def endpoints_file(self) -> Path:
        """bot/endpoints.yml, or a copy without Redis stores when there is no Redis."""
        source = ROOT / "bot" / "endpoints.yml"
        if self.redis is not None:
            return source
        endpoints = yaml.safe_load(source.read_text(encoding="utf-8"))
        endpoints.pop("tracker_store", None)
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
        env=env,
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
        env=env,
        cwd=ROOT,
    )
    return [backends, actions, rasa]
