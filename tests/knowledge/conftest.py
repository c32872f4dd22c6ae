"""Fixtures for the knowledge engine tests.

``unit`` tests use the deterministic HashEmbedder and the fixture KBs under tests/fixtures/kb;
``integration`` tests load the real embedding model (m3e-small by default) once per session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _kb_support import DICT_DIR, GOOD_KB

from knowledge.embedder import HashEmbedder, make_embedder
from knowledge.settings import Settings


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A writable copy of the good fixture KB."""
    target = tmp_path / "kb"
    shutil.copytree(GOOD_KB, target)
    return target


@pytest.fixture
def dict_copy(tmp_path: Path) -> Path:
    target = tmp_path / "dict"
    shutil.copytree(DICT_DIR, target)
    return target


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder(64)


@pytest.fixture(scope="session")
def real_embedder():
    return make_embedder(Settings.from_env().model_path())
