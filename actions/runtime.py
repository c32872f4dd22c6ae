"""Process-wide resources of the action server, created once and closed on shut-down."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


async def start(app: Any, *_: Any) -> None:
    """Runs before the server accepts requests."""
    logger.info("action server starting")


async def stop(app: Any, *_: Any) -> None:
    """Runs after the server stopped accepting requests."""
    logger.info("action server stopped")
