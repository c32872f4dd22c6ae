"""stack/cluster.py without starting anything: the processes it would start, the environment
each one gets, and the nginx config (checked by nginx itself with ``nginx -t``)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from stack.cluster import (
    ClusterConfig,
    ClusterPorts,
    build_cluster,
    check_nginx_conf,
    render_nginx_conf,
)
from stack.redis_choice import RedisTarget

pytestmark = pytest.mark.unit

NGINX = os.environ.get("NGINX_BIN") or shutil.which("nginx") or "/usr/sbin/nginx"


def config(tmp_path: Path, **options: object) -> ClusterConfig:
    return ClusterConfig(
        rasa_bin="/opt/rasa", actions_python="/opt/python", model="/opt/model.tar.gz",
        nginx_bin=NGINX, redis=RedisTarget.from_url("redis://127.0.0.1:6399/2"),
        ports=ClusterPorts.allocate(rasa=int(options.pop("rasa", 2)),
                                    actions=int(options.pop("actions", 2))),
        redis_key_prefix="clustertest", var_dir=tmp_path, **options,
    )


def test_ports_are_all_distinct():
    ports = ClusterPorts.allocate(entry=5100, rasa=3, actions=2)
    every = [ports.entry, ports.actions_lb, ports.backends_lb, ports.backends, *ports.rasa,
             *ports.actions]
    assert len(set(every)) == len(every) == 9
    assert ports.entry == 5100


def test_the_processes_and_what_each_is_told(tmp_path):
    cluster = config(tmp_path)
    groups = build_cluster(cluster)
    names = [[s.name for s in group] for group in groups]
    assert names == [["sandbox backends"], ["action server 1", "action server 2"], ["nginx"],
                     ["Rasa server 1", "Rasa server 2"]]
    services = [s for group in groups for s in group]
    ports = cluster.ports
    for service in services:
        if service.name == "nginx":
            continue
        env = service.env
        # one Redis and one prefix for everybody: tracker, lock store and channel keys
        assert env["REDIS_URL"] == "redis://127.0.0.1:6399/2"
        assert env["REDIS_KEY_PREFIX"] == "clustertest"
        assert env["BACKENDS_URL"] == f"http://127.0.0.1:{ports.backends_lb}"  # via nginx
    rasa = [s for s in services if s.name.startswith("Rasa")]
    for server, port in zip(rasa, ports.rasa, strict=True):
        assert server.env["ACTION_SERVER_URL"] == f"http://127.0.0.1:{ports.actions_lb}/webhook"
        assert server.argv[server.argv.index("--port") + 1] == str(port)
        assert server.health_url == f"http://127.0.0.1:{port}/webhooks/rest/"
        assert server.log_path.name.startswith("rasa-")
    actions = [s for s in services if s.name.startswith("action server")]
    assert [s.argv[-1] for s in actions] == [str(p) for p in ports.actions]
    backends = services[0]
    assert backends.argv[backends.argv.index("--port") + 1] == str(ports.backends)
    # one vault key for every action server (a phone kept by one is read by the other),
    # and only they get it
    keys = {s.env["MINSHENG_PII_KEY"] for s in actions}
    assert len(keys) == 1 and keys.pop()
    assert all("MINSHENG_PII_KEY" not in s.env for s in [*rasa, backends])


def test_pinned_routing_pairs_each_rasa_with_its_action_server(tmp_path):
    cluster = config(tmp_path, action_routing="pinned")
    rasa = build_cluster(cluster)[3]
    assert [s.env["ACTION_SERVER_URL"] for s in rasa] == [
        f"http://127.0.0.1:{p}/webhook" for p in cluster.ports.actions]
    with pytest.raises(ValueError, match="as many"):
        config(tmp_path, action_routing="pinned", rasa=3, actions=2)


def test_the_nginx_config(tmp_path):
    cluster = config(tmp_path, rasa=3, actions=2)
    text = render_nginx_conf(cluster)
    upstream = {name: re.findall(r"server 127\.0\.0\.1:(\d+)", body) for name, body in
                re.findall(r"upstream (\w+) \{(.*?)\}", text, re.S)}
    ports = cluster.ports
    assert upstream["rasa"] == upstream["rasa_socketio"] == [str(p) for p in ports.rasa]
    assert upstream["actions"] == [str(p) for p in ports.actions]
    assert upstream["backends"] == [str(ports.backends)]
    assert "hash $remote_addr consistent" in text  # socket.io sticky
    # action calls are retried on the other server when the connection fails, POST included
    assert "proxy_next_upstream error non_idempotent;" in text
    # resident messages are not re-sent once sent
    assert "proxy_next_upstream error timeout;" in text
    assert f"listen 127.0.0.1:{ports.entry};" in text
    assert str(tmp_path) in text and "/var/log/nginx" not in text  # everything under var/


def test_nginx_accepts_the_config(tmp_path):
    if not os.path.exists(NGINX):
        pytest.fail("nginx is missing: run the tests through scripts/test (ensure_nginx)")
    check_nginx_conf(config(tmp_path))


def test_nginx_never_buffers_a_body_to_disk(tmp_path):
    # A worker that is not the user who made the temp folders cannot write a body there and
    # answers 500: every body nginx accepts must fit its in-memory buffer. The action servers
    # get Rasa's whole conversation, so their limit is far above the residents' 1 MB.
    text = render_nginx_conf(config(tmp_path))
    limits = re.findall(r"client_max_body_size (\d+)m;\s*client_body_buffer_size (\d+)m;", text)
    assert limits == [("1", "1"), ("32", "32")]
    assert text.count("client_max_body_size") == text.count("client_body_buffer_size") == 2
