"""Process-wide resources of the action server, created once and closed on shut-down."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from actions import handoff, store
from actions.clients import close_clients
from knowledge.service import KnowledgeService, KnowledgeUnavailable

logger = logging.getLogger(__name__)


async def start(app: Any, *_: Any) -> None:
    """Before the server accepts requests: load the knowledge index (building it if it is
    missing or stale) so that the first resident does not wait for it."""
    try:
        await KnowledgeService.shared().warm_up()
        logger.info("knowledge index ready: %s", KnowledgeService.shared().status())
    except KnowledgeUnavailable:
        # The action answers "knowledge unavailable" and the watcher keeps trying.
        logger.exception("knowledge index unavailable at start-up")
    except asyncio.CancelledError:
        raise


async def stop(app: Any, *_: Any) -> None:
    """After the server stopped accepting requests."""
    KnowledgeService.shared().close()
    await store.close()
    await handoff.close()
    await close_clients()
    logger.info("action server stopped")
