import pytest
from aiohttp.test_utils import TestClient, TestServer

from backends.sandbox.app import create_app

pytestmark = pytest.mark.integration


async def test_health_answers(tmp_path):
    async with TestClient(TestServer(create_app(tmp_path))) as client:
        reply = await client.get("/health")
        assert reply.status == 200
        assert await reply.json() == {"status": "ok"}


async def test_unknown_paths_are_404(tmp_path):
    async with TestClient(TestServer(create_app(tmp_path))) as client:
        reply = await client.get("/nope")
        assert reply.status == 404
