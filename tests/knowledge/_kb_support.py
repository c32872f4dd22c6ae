"""Paths shared by the knowledge tests (imported by conftest and the test modules)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kb"
GOOD_KB = FIXTURES / "good"
BAD_KB = FIXTURES / "bad"
DICT_DIR = FIXTURES / "dict"
EVAL_SET = FIXTURES / "eval" / "fixture.jsonl"
REPO = Path(__file__).resolve().parents[2]
