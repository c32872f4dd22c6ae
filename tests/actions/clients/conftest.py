from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actions.clients import Backends, ClientSettings
from tests.backends.support import Api, running_sandbox

FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
async def sandbox(tmp_path) -> AsyncIterator[Api]:
    """The real sandbox, in process, on a free port."""
    async with running_sandbox(tmp_path / "sandbox") as api:
        yield api


@pytest.fixture
async def backends(sandbox) -> AsyncIterator[Backends]:
    """Clients with the default timeouts and breaker, short back-off, pointed at the sandbox."""
    clients = Backends(ClientSettings.for_base_url(sandbox.base_url, **FAST), seed=1)
    yield clients
    await clients.close()
