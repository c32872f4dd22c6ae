"""One cluster for every test in tests/cluster: 2 Rasa servers and 2 action servers behind
nginx, the sandbox backends behind it too, and a WeChat API sandbox, all on free ports and
sharing one private redis-server (with an append-only file, so the Redis-restart test restarts
it like a real one, keeping the data), started once and stopped at the end of the session.

The knowledge base and its index are copies in the session's temporary folder, so the reload
test can edit the files without touching the repository."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WECHAT_ACCOUNT = "gh_5a4d1f0e9c11"


@dataclass
class ClusterUnderTest:
    """What the tests need: the running cluster and how to reach and break it."""

    running: object  # stack.cluster.RunningCluster
    redis_url: str
    prefix: str
    admin_token: str
    wechat_token: str
    wechat_api_url: str
    kb_dir: Path
    index_dir: Path

    @property
    def rest_url(self) -> str:
        return self.running.rest_url  # type: ignore[attr-defined]

    @property
    def wechat_url(self) -> str:
        return self.running.wechat_url  # type: ignore[attr-defined]

    def replica_rest_url(self, index: int) -> str:
        return f"{self.running.rasa_urls[index]}/webhooks/rest/webhook"  # type: ignore[attr-defined]

    @property
    def backends_url(self) -> str:
        return self.running.backends_url  # type: ignore[attr-defined]

    @property
    def config(self) -> object:
        """The ClusterConfig (``var_dir``, ``extra_env``: what tests.dialogues.support reads)."""
        return self.running.config  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterUnderTest]:
    from backends.wechat_api import harness
    from stack.cluster import ClusterConfig, ClusterPorts, private_redis, start_cluster
    from stack.processes import free_port
    from stack.redis_choice import RedisTarget

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    if not rasa_bin or not model:
        pytest.fail("RASA_BIN and RASA_MODEL are not set: run the tests through scripts/test")
    nginx_bin = os.environ.get("NGINX_BIN") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx_bin):
        pytest.fail("nginx is missing: run the tests through scripts/test (ensure_nginx)")

    var_dir = tmp_path_factory.mktemp("cluster")
    kb_dir, index_dir = var_dir / "kb", var_dir / "index"
    shutil.copytree(ROOT / "knowledge" / "kb", kb_dir)
    if (ROOT / "var" / "index" / "CURRENT").is_file():  # built by scripts/test beforehand
        shutil.copytree(ROOT / "var" / "index", index_dir,
                        ignore=shutil.ignore_patterns(".build.lock", "CURRENT.*.tmp"))
    prefix = "testcl" + secrets.token_hex(4)
    admin_token = "test-admin-" + secrets.token_hex(12)
    api_port = free_port()
    wechat_api = harness.wechat_api_service(sys.executable, api_port, var_dir / "log")
    redis = private_redis(var_dir / "redis", persistent=True)
    running = None
    try:
        wechat_api.start()
        redis.start()
        wechat_api.wait_healthy(60)
        redis.wait_healthy(20)
        config = ClusterConfig(
            rasa_bin=rasa_bin,
            actions_python=sys.executable,
            model=model,
            nginx_bin=nginx_bin,
            redis=RedisTarget.from_url(redis.url),
            ports=ClusterPorts.allocate(),
            redis_key_prefix=prefix,
            var_dir=var_dir,
            extra_env={
                "SANDBOX_ADMIN_TOKEN": admin_token,
                # one vault key for both action servers, as in a deployment
                "MINSHENG_PII_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "MINSHENG_KB_DIR": str(kb_dir),
                "MINSHENG_INDEX_DIR": str(index_dir),
                "WECHAT_TOKEN": harness.TOKEN,
                "WECHAT_ENCODING_AES_KEY": harness.ENCODING_AES_KEY,
                "WECHAT_APP_ID": harness.APP_ID,
                "WECHAT_APP_SECRET": harness.APP_SECRET,
                "WECHAT_API_BASE": f"http://127.0.0.1:{api_port}",
                # the load of the fault tests is a few residents talking non-stop, far over
                # a resident's rate limit (safety/ratelimit.py); faults are tested here, not it
                "RATE_LIMIT_RESIDENT": "off",
                "RATE_LIMIT_CHANNEL": "off",
                # a backend call gives up after 4 s (default 4.5 s): the rest of the turn
                # (NLU, policies, the action) needs more than 0.5 s on a machine whose two
                # cores are shared, and the apology must reach the resident within 5 s
                "BACKENDS_DEADLINE": "4.0",
            },
        )
        running = start_cluster(config, redis_service=redis)
        warm_up(running.rasa_urls)
        yield ClusterUnderTest(
            running=running,
            redis_url=redis.url,
            prefix=prefix,
            admin_token=admin_token,
            wechat_token=harness.TOKEN,
            wechat_api_url=f"http://127.0.0.1:{api_port}",
            kb_dir=kb_dir,
            index_dir=index_dir,
        )
    finally:
        if running is not None:
            running.stop()  # stops the Redis too
        else:
            redis.stop()
        wechat_api.stop()


def warm_up(rasa_urls: list[str]) -> None:
    """A few turns on every replica before the tests: the first knowledge question of a fresh
    action server and the first turns of a fresh Rasa load things lazily (many seconds on a busy
    machine), which would otherwise be measured as part of a fault."""
    import json
    import urllib.request

    for url in rasa_urls:
        for number, text in enumerate(["你好", "养老助残卡丢了怎么补办", "居住证到期了怎么续签",
                                       "公园年票怎么买"]):
            body = json.dumps({"sender": f"warmup-{number}", "message": text}).encode()
            request = urllib.request.Request(f"{url}/webhooks/rest/webhook", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=180) as answer:
                answer.read()
