"""The assistant scaled out on one machine: replicas behind nginx, sharing one Redis.

``python -m stack.cluster run`` (through ``scripts/cluster``) starts, on top of one Redis:

=====================  =================================================================
process                what
=====================  =================================================================
sandbox backends       one process (SQLite), reached by the actions through nginx
action server × N      ``python -m actions.server`` on free ports (default N = 2)
nginx                  Debian's nginx with a config generated under ``var/cluster/nginx/``:
                       the **entry** (residents → Rasa replicas, round robin; socket.io
                       sticky by client address), the **actions** upstream (Rasa → action
                       servers) and the **backends** upstream (actions → sandbox)
Rasa server × M        ``rasa run`` on free ports (default M = 2), every one pointing at the
                       actions upstream, all with the same Redis tracker and lock store
                       (same key prefix), so any replica can serve any turn
=====================  =================================================================

Why every Rasa replica calls the *load-balanced* actions upstream rather than an action server
of its own: the action servers are stateless, so any one can run any action; through nginx a
dead action server costs nothing (a refused or reset connection is retried once on the other,
``proxy_next_upstream error non_idempotent``, safe because every write action sends an
``Idempotency-Key``), while with pinned pairs it would take its Rasa replica's share of the
turns down with it. ``--action-routing pinned`` builds the pinned variant for comparison.

The per-replica processes are made by :func:`stack.assistant.build_services`, so a cluster
replica runs exactly what ``scripts/run`` runs. Tests and ``bench/load.py`` use
:func:`start_cluster`; ``scripts/cluster`` uses :func:`main`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stack.assistant import ROOT, Ports, StackConfig, build_services
from stack.processes import Service, StartError, free_port, port_in_use
from stack.redis_choice import RedisTarget, ping

START_TIMEOUTS = {"backends": 60.0, "actions": 240.0, "nginx": 30.0, "rasa": 400.0}
ACTION_ROUTING = ("balanced", "pinned")
PII_KEY = "MINSHENG_PII_KEY"


@dataclass(frozen=True)
class ClusterPorts:
    """Where everything listens. ``entry`` is the one port residents (and channels) use."""

    entry: int
    actions_lb: int
    backends_lb: int
    backends: int
    rasa: tuple[int, ...]
    actions: tuple[int, ...]

    @classmethod
    def allocate(cls, entry: int | None = None, rasa: int = 2, actions: int = 2
                 ) -> ClusterPorts:
        """Free ports for everything (``entry`` fixed if given)."""
        taken: set[int] = set()

        def pick() -> int:
            while True:
                port = free_port()
                if port not in taken and port != entry:
                    taken.add(port)
                    return port

        return cls(
            entry=entry if entry is not None else pick(),
            actions_lb=pick(),
            backends_lb=pick(),
            backends=pick(),
            rasa=tuple(pick() for _ in range(rasa)),
            actions=tuple(pick() for _ in range(actions)),
        )


@dataclass
class ClusterConfig:
    """Everything needed to start a cluster; tests build one with their own prefix and Redis."""

    rasa_bin: str
    actions_python: str
    model: str
    nginx_bin: str
    redis: RedisTarget
    ports: ClusterPorts
    redis_key_prefix: str = "minsheng"
    var_dir: Path = ROOT / "var" / "cluster"
    action_routing: str = "balanced"
    nginx_workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action_routing not in ACTION_ROUTING:
            raise ValueError(f"action_routing must be one of {ACTION_ROUTING}")
        if self.action_routing == "pinned" and len(self.ports.actions) != len(self.ports.rasa):
            raise ValueError("pinned action routing needs as many action servers as Rasa servers")

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def nginx_dir(self) -> Path:
        return self.var_dir / "nginx"

    def entry_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.entry}"

    def action_port_for(self, replica: int) -> int:
        """The port Rasa replica ``replica`` sends its action calls to."""
        if self.action_routing == "pinned":
            return self.ports.actions[replica]
        return self.ports.actions_lb

    @functools.cached_property
    def pii_key(self) -> str:
        """One MINSHENG_PII_KEY for every action server: a phone number kept in the vault by
        one replica must be readable by the others (actions/vault.py). From ``extra_env`` or
        the environment, else made once for this run (the single stack's rule)."""
        probe = StackConfig(rasa_bin=self.rasa_bin, actions_python=self.actions_python,
                            model=self.model, extra_env=dict(self.extra_env))
        return probe.pii_key

    def stack_config(self, rasa_port: int, actions_port: int) -> StackConfig:
        """The single-stack config of one replica: its own ports, the shared Redis, prefix,
        data folder, and the backends through nginx."""
        return StackConfig(
            rasa_bin=self.rasa_bin,
            actions_python=self.actions_python,
            model=self.model,
            ports=Ports(rasa=rasa_port, actions=actions_port, backends=self.ports.backends_lb),
            redis=self.redis,
            redis_key_prefix=self.redis_key_prefix,
            var_dir=self.var_dir,
            extra_env={**self.extra_env, PII_KEY: self.pii_key},
        )


# --- nginx -----------------------------------------------------------------------------------


def render_nginx_conf(config: ClusterConfig) -> str:
    """The nginx configuration of a cluster (pure; written by :func:`write_nginx_conf`)."""
    ports = config.ports
    nginx_dir = config.nginx_dir
    tmp = nginx_dir / "tmp"

    def servers(port_list: Iterable[int], extra: str = "") -> str:
        return "\n".join(f"    server 127.0.0.1:{p}{extra};" for p in port_list)

    temp_paths = "\n".join(
        f"  {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    proxy_headers = """\
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;"""
    return f"""\
# Generated by stack/cluster.py for scripts/cluster: rewritten on every start, do not edit.
daemon off;
worker_processes {config.nginx_workers};
pid {nginx_dir / "nginx.pid"};
error_log {config.log_dir / "nginx-error.log"} warn;

events {{
  worker_connections 4096;
}}

http {{
{temp_paths}
  log_format upstream '$time_iso8601 $server_port "$request_method $uri" $status '
                      '$request_time $upstream_addr $upstream_status $upstream_response_time';
  access_log {config.log_dir / "nginx-access.log"} upstream buffer=64k flush=1s;
  # The channels cap bodies (64 KB) and answer 413 themselves; nginx only stops abuse. A body
  # is kept in memory up to its maximum, never written to a temp file: a worker that is not
  # the user who made the temp folders could not write it and would answer 500 (found by the
  # Redis restart test, whose long conversations sent the action servers bodies over 128 KB).
  client_max_body_size 1m;
  client_body_buffer_size 1m;
  proxy_http_version 1.1;
  proxy_buffering on;
  proxy_max_temp_file_size 0;
  server_tokens off;

  map $http_upgrade $connection_upgrade {{
    default upgrade;
    ''      '';
  }}

  # Residents -> Rasa replicas. Any replica can serve any turn (tracker and lock store in
  # Redis), so plain round robin. A message is retried on the other replica only when it was
  # never sent (connection refused): re-sending a sent message could run it twice.
  upstream rasa {{
{servers(ports.rasa, " max_fails=1 fail_timeout=5s")}
    keepalive 64;
  }}

  # socket.io keeps an Engine.IO session in one process (long-polling needs every request of a
  # session on the same replica), so it is sticky by client address.
  upstream rasa_socketio {{
    hash $remote_addr consistent;
{servers(ports.rasa, " max_fails=1 fail_timeout=5s")}
  }}

  # Rasa replicas -> action servers (stateless). A call whose connection is refused or reset
  # is retried once on another server, POST included: every write action sends an
  # Idempotency-Key, so a repeated action cannot write twice. Not retried on a timeout: a slow
  # action retried elsewhere would double the load exactly when it hurts.
  upstream actions {{
{servers(ports.actions, " max_fails=1 fail_timeout=5s")}
    keepalive 32;
  }}

  upstream backends {{
    server 127.0.0.1:{ports.backends};
    keepalive 32;
  }}

  server {{
    listen 127.0.0.1:{ports.entry};
    location = /lb/health {{
      access_log off;
      default_type text/plain;
      return 200 "ok\\n";
    }}
    location ~ ^/(webhooks/webchat/)?socket\\.io/ {{
      proxy_pass http://rasa_socketio;
{proxy_headers}
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
      add_header X-Served-By $upstream_addr always;
    }}
    location / {{
      proxy_pass http://rasa;
{proxy_headers}
      proxy_set_header Connection "";
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;
      add_header X-Served-By $upstream_addr always;
    }}
  }}

  server {{
    listen 127.0.0.1:{ports.actions_lb};
    location = /lb/health {{
      access_log off;
      default_type text/plain;
      return 200 "ok\\n";
    }}
    location / {{
      # Rasa sends the action server the whole conversation (every event of the session), so
      # a long conversation is a big body; in memory, as above.
      client_max_body_size 32m;
      client_body_buffer_size 32m;
      proxy_pass http://actions;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_read_timeout 60s;
      proxy_next_upstream error non_idempotent;
      proxy_next_upstream_tries 2;
    }}
  }}

  server {{
    listen 127.0.0.1:{ports.backends_lb};
    location / {{
      proxy_pass http://backends;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
      proxy_next_upstream off;
    }}
  }}
}}
"""


def write_nginx_conf(config: ClusterConfig) -> Path:
    path = config.nginx_dir / "nginx.conf"
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (config.nginx_dir / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(render_nginx_conf(config), encoding="utf-8")
    return path


def nginx_service(config: ClusterConfig) -> Service:
    conf = write_nginx_conf(config)
    return Service(
        name="nginx",
        # -e: the error log before the config is read (Debian's default is /var/log/nginx)
        argv=[config.nginx_bin, "-p", str(config.nginx_dir), "-c", str(conf),
              "-e", str(config.log_dir / "nginx-error.log")],
        health_url=f"http://127.0.0.1:{config.ports.actions_lb}/lb/health",
        log_path=config.log_dir / "nginx.log",
        cwd=config.nginx_dir,
    )


def check_nginx_conf(config: ClusterConfig) -> None:
    """``nginx -t`` on the generated config; raises StartError with nginx's words."""
    import subprocess

    conf = write_nginx_conf(config)
    result = subprocess.run(
        [config.nginx_bin, "-t", "-q", "-p", str(config.nginx_dir), "-c", str(conf),
         "-e", str(config.log_dir / "nginx-error.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if result.returncode != 0:
        raise StartError(f"nginx rejected {conf}:\n{result.stderr or result.stdout}")


# --- the processes ---------------------------------------------------------------------------


def _pick(services: Sequence[Service], name: str) -> Service:
    for service in services:
        if service.name == name:
            return service
    raise RuntimeError(f"stack.assistant.build_services made no {name!r}")


def without_key(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without MINSHENG_PII_KEY: only the action servers need the vault's key."""
    return {k: v for k, v in env.items() if k != PII_KEY}


def build_cluster(config: ClusterConfig) -> list[list[Service]]:
    """The cluster's processes in start groups: each group starts at once and is healthy
    before the next group starts."""
    logs = config.log_dir
    ports = config.ports
    first = build_services(config.stack_config(ports.rasa[0], ports.actions[0]))
    backends = dataclasses.replace(
        _pick(first, "sandbox backends"),
        env=without_key(_pick(first, "sandbox backends").env),
        argv=[config.actions_python, "-m", "backends.sandbox", "--port", str(ports.backends),
              "--data-dir", str(config.var_dir / "sandbox")],
        health_url=f"http://127.0.0.1:{ports.backends}/health",
        log_path=logs / "backends.log",
    )
    actions = []
    for index, port in enumerate(ports.actions, start=1):
        made = _pick(build_services(config.stack_config(ports.rasa[0], port)), "action server")
        actions.append(dataclasses.replace(made, name=f"action server {index}",
                                           log_path=logs / f"actions-{index}.log"))
    rasa = []
    for index, port in enumerate(ports.rasa, start=1):
        made = _pick(
            build_services(config.stack_config(port, config.action_port_for(index - 1))),
            "Rasa server",
        )
        rasa.append(dataclasses.replace(made, name=f"Rasa server {index}",
                                        log_path=logs / f"rasa-{index}.log",
                                        env=without_key(made.env)))
    return [[backends], actions, [nginx_service(config)], rasa]


def _timeout(service: Service) -> float:
    for key, seconds in START_TIMEOUTS.items():
        if key in service.name.lower():
            return seconds
    return 120.0


@dataclass
class RunningCluster:
    """A started cluster: its config and processes, with the URLs tests and benchmarks use."""

    config: ClusterConfig
    services: list[Service] = field(default_factory=list)
    redis_service: Service | None = None

    @property
    def entry_url(self) -> str:
        return self.config.entry_url()

    @property
    def rest_url(self) -> str:
        return f"{self.entry_url}/webhooks/rest/webhook"

    @property
    def wechat_url(self) -> str:
        return f"{self.entry_url}/webhooks/wechat/webhook"

    @property
    def rasa_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.config.ports.rasa]

    @property
    def action_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.config.ports.actions]

    @property
    def backends_url(self) -> str:
        """The sandbox itself (admin and fault injection), not through nginx."""
        return f"http://127.0.0.1:{self.config.ports.backends}"

    @property
    def log_dir(self) -> Path:
        return self.config.log_dir

    def service(self, name: str) -> Service:
        return _pick(self.services, name)

    def restart(self, name: str) -> None:
        """Starts a stopped (or killed) process again and waits until it is healthy."""
        service = self.service(name)
        service.stop()
        service.start()
        service.wait_healthy(_timeout(service))

    def kill(self, name: str) -> None:
        """SIGKILL to a process group, as a crash or an OOM kill would."""
        service = self.service(name)
        if service.process is not None and service.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(10)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        if self.redis_service is not None:
            self.redis_service.stop()
            self.redis_service = None


def start_cluster(config: ClusterConfig, *, log: object = None,
                  redis_service: Service | None = None) -> RunningCluster:
    """Starts every process group by group; on any failure stops what started and raises
    :class:`StartError`. ``log`` (a callable) hears what is being started."""
    check_nginx_conf(config)
    cluster = RunningCluster(config, redis_service=redis_service)
    try:
        for group in build_cluster(config):
            for service in group:
                if callable(log):
                    log(f"Starting the {service.name} (log: {service.log_path})")
                service.start()
                cluster.services.append(service)
            _wait_all(group)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_all(group: Sequence[Service]) -> None:
    """Waits for a group started together (in threads: Rasa replicas load side by side)."""
    errors: list[BaseException] = []

    def wait(service: Service) -> None:
        try:
            service.wait_healthy(_timeout(service))
        except BaseException as error:  # reported below, in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=wait, args=(s,), daemon=True) for s in group]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# --- a Redis of its own (tests, and scripts/cluster when no Redis is around) -----------------


class RedisService(Service):
    """A private ``redis-server``; healthy when it answers PING. With ``persistent`` it keeps
    an append-only file in its folder, so a restart keeps the conversations (like a managed
    Redis with persistence would)."""

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise StartError(f"{self.name} exited during start-up.\n{self.log_tail()}")
            if ping(self.url, timeout=0.5):
                return
            time.sleep(0.1)
        raise StartError(f"{self.name} did not answer PING after {timeout:.0f} s.")

    @property
    def url(self) -> str:
        return self.health_url


def private_redis(run_dir: Path, *, port: int | None = None, persistent: bool = True
                  ) -> RedisService:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    run_dir.mkdir(parents=True, exist_ok=True)
    persistence = (["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
                   if persistent else ["--appendonly", "no", "--save", ""])
    return RedisService(
        name="redis",
        argv=[binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(run_dir),
              *persistence],
        health_url=f"redis://127.0.0.1:{port}/0",
        log_path=run_dir / "redis.log",
    )


# --- python -m stack.cluster run -------------------------------------------------------------


def _log(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", file=sys.stderr, flush=True)


def _choose_redis(var_dir: Path) -> tuple[RedisTarget, Service | None]:
    from stack.redis_choice import existing_redis

    existing = existing_redis(_log)
    if existing is not None:
        return existing, None
    if shutil.which("redis-server") is None:
        raise SystemExit(
            "error: the cluster needs a Redis shared by every replica: set REDIS_URL, run one "
            "at 127.0.0.1:6379, or install redis-server."
        )
    service = private_redis(var_dir / "redis")
    service.start()
    service.wait_healthy(20)
    _log(f"Redis: started a private redis-server at {service.url}")
    return RedisTarget.from_url(service.url), service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.cluster",
                                     description="Run the assistant as a local cluster.")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--rasa", type=int, default=int(os.environ.get("CLUSTER_RASA", 2)),
                        help="Rasa server replicas (default 2)")
    parser.add_argument("--actions", type=int,
                        default=int(os.environ.get("CLUSTER_ACTIONS", 2)),
                        help="action server replicas (default 2)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT", 5100)),
                        help="the entry port residents use (default 5100, CLUSTER_PORT)")
    parser.add_argument("--action-routing", choices=ACTION_ROUTING, default="balanced",
                        help="balanced: every Rasa calls the actions through nginx (default); "
                             "pinned: Rasa replica i calls action server i")
    args = parser.parse_args(argv)

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    nginx_bin = os.environ.get("NGINX_BIN") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not rasa_bin or not model:
        raise SystemExit("error: run this through scripts/cluster (RASA_BIN and RASA_MODEL "
                         "unset).")
    if not os.path.exists(nginx_bin):
        raise SystemExit("error: nginx is missing: run this through scripts/cluster, which "
                         "installs Debian's nginx.")
    if min(args.rasa, args.actions) < 1:
        raise SystemExit("error: --rasa and --actions must be at least 1")
    if port_in_use(args.port):
        raise SystemExit(f"error: port {args.port} is already in use — is a cluster already "
                         "running? Stop it or pass --port / set CLUSTER_PORT.")

    var_dir = Path(os.environ.get("MINSHENG_CLUSTER_DIR", ROOT / "var" / "cluster"))
    redis_target, redis_service = _choose_redis(var_dir)
    config = ClusterConfig(
        rasa_bin=rasa_bin,
        actions_python=sys.executable,
        model=model,
        nginx_bin=nginx_bin,
        redis=redis_target,
        ports=ClusterPorts.allocate(args.port, rasa=args.rasa, actions=args.actions),
        redis_key_prefix=os.environ.get("REDIS_KEY_PREFIX", "minsheng"),
        var_dir=var_dir,
        action_routing=args.action_routing,
    )
    cluster: RunningCluster | None = None
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        _log("Stopping …")
        if cluster is not None:
            cluster.stop()
        elif redis_service is not None:
            redis_service.stop()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        cluster = start_cluster(config, log=_log, redis_service=redis_service)
        _print_banner(cluster)
        return _watch(cluster)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()


def _watch(cluster: RunningCluster) -> int:
    """Keeps running while every tier has a live process; says when a replica dies."""
    reported: set[str] = set()
    while True:
        for service in cluster.services:
            if not service.is_running() and service.name not in reported:
                reported.add(service.name)
                print(f"\033[1;33mwarning:\033[0m the {service.name} stopped unexpectedly; "
                      f"the others carry on.\n{service.log_tail(10)}", file=sys.stderr)
        for tier in ("Rasa server", "action server", "nginx", "sandbox backends"):
            members = [s for s in cluster.services if s.name.startswith(tier)]
            if members and not any(s.is_running() for s in members):
                print(f"error: no {tier} is left running; stopping.", file=sys.stderr)
                return 1
        time.sleep(1)


def _print_banner(cluster: RunningCluster) -> None:
    config = cluster.config
    entry = cluster.entry_url
    wechat = cluster.wechat_url + (
        "" if os.environ.get("WECHAT_TOKEN") else "  (not configured: scripts/wechat-config)"
    )
    rasa = ", ".join(cluster.rasa_urls)
    actions = ", ".join(cluster.action_urls)
    routing = ("through nginx (balanced)" if config.action_routing == "balanced"
               else "pinned, replica i -> action server i")
    print(
        f"""
\033[1;32m民生助手 is running as a cluster.\033[0m
  Entry (nginx):    {entry}
  Chat over REST:   curl -s {cluster.rest_url} \\
                      -H 'Content-Type: application/json' \\
                      -d '{{"sender": "demo", "message": "你好"}}'
  socket.io:        {entry}/webhooks/webchat/socket.io  (sticky per client address)
  WeChat webhook:   {wechat}
  Rasa replicas:    {rasa}
  Action servers:   {actions}  (Rasa calls them {routing})
  Sandbox backends: {cluster.backends_url}  (actions reach it through nginx)
  Redis:            {config.redis.url}  (key prefix {config.redis_key_prefix})
  nginx config:     {config.nginx_dir / "nginx.conf"}
  Logs:             {config.log_dir}/
Every response carries X-Served-By (the replica that answered).
Press Ctrl-C to stop everything.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
