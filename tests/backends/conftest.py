from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.backends.support import Api, FakeClock, running_sandbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def api(tmp_path, clock) -> AsyncIterator[Api]:
    """The sandbox with default settings, an admin token and the fixed clock."""
    async with running_sandbox(tmp_path / "sandbox", clock=clock) as running:
        yield running
