"""Knowledge search for the action server, with hot reload.

Public API (what rasa-sdk actions call)::

    from knowledge.service import KnowledgeService, KnowledgeUnavailable

    service = KnowledgeService.shared()          # one per process, configured from the env
    result = await service.search("老年卡咋办", area=None, district=None, top_k=3)
    result.outcome      # "answer" | "clarify" | "none"
    result.best         # knowledge.model.Hit for "answer": .answer, .spoken, .source, .effective…
    result.suggestions  # standard questions to offer for "clarify" (up to 3)

    from knowledge.citation import format_source_line
    format_source_line(template_from_domain, hit.source, hit.effective)

Nothing is loaded at import or construction. The first ``search`` (or ``await warm_up()``) loads
the embedding model and the published index once, building the index first when it is missing or
stale. CPU work runs in a thread executor so the event loop is never blocked; concurrent first
calls share one load. ``search`` raises :class:`KnowledgeUnavailable` when there is no usable
index at all (e.g. a fresh checkout whose files have errors) — the action should then answer with
its "knowledge unavailable" response.

Hot reload: a daemon thread polls the KB folder and the dictionary folder (every
``poll_interval`` seconds, default 0.5). When a file changes it waits for the writes to settle,
then rebuilds incrementally: only changed files are parsed and linted again, only their segments
are made (only new texts embedded), and the new retriever is assembled from the segments already
in memory (see :mod:`knowledge.index` and :mod:`knowledge.retriever`) and swapped in one
reference assignment; searches in flight finish on the old one. A file with errors is logged with
file:line and the last good index keeps serving. It also picks up an index published by another
process (``scripts/kb build``, ``scripts/kb calibrate``) by watching the ``CURRENT`` pointer,
reading only the segments it does not hold.

Settings (environment): ``MINSHENG_KB_DIR``, ``MINSHENG_DICT_DIR``, ``MINSHENG_INDEX_DIR``,
``MINSHENG_EMBEDDING_MODEL`` — see :mod:`knowledge.settings` — and ``MINSHENG_TORCH_THREADS``
(default 1: one query on one thread is fast and does not collapse when the cores are busy).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from .embedder import Embedder, make_embedder
from .index import BuildReport, IndexData, build, current_build, load_build
from .model import Hit, Issue, SearchResult
from .retriever import Retriever
from .settings import Settings
from .tokenizer import TextAnalyzer, dictionary_hash

log = logging.getLogger(__name__)


class KnowledgeUnavailable(RuntimeError):
    """There is no usable index (nothing published and the files cannot be built)."""


def _fingerprint(*folders: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                entries.append((path, stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


class KnowledgeService:
    RETRY_SECONDS = 5.0
    _shared: KnowledgeService | None = None
    _shared_lock = threading.Lock()

    def __init__(self, kb_dir: Path | str | None = None, index_dir: Path | str | None = None,
                 dict_dir: Path | str | None = None, embedder: Embedder | None = None,
                 watch: bool = True, poll_interval: float = 0.5,
                 settle_seconds: float = 0.2) -> None:
        settings = Settings.from_env()
        self.kb_dir = Path(kb_dir) if kb_dir is not None else settings.kb_dir
        self.index_dir = Path(index_dir) if index_dir is not None else settings.index_dir
        self.dict_dir = Path(dict_dir) if dict_dir is not None else settings.dict_dir
        self._embedder = embedder
        self._model_spec = settings.model_path() if embedder is None else ""
        self.watch = watch
        self.torch_threads = int(os.environ.get("MINSHENG_TORCH_THREADS", "1") or 1)
        self.poll_interval = poll_interval
        self.settle_seconds = settle_seconds
        self._retriever: Retriever | None = None
        self._analyzer: TextAnalyzer | None = None
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None
        self.last_report: BuildReport | None = None
        self.last_issues: list[Issue] = []
        self.reloads = 0
        self._parse_cache: dict[str, Any] = {}
        self._lint_cache: dict[str, Any] = {}
        self.last_swap_seconds = 0.0
        self._failed_at = 0.0  # last failed first load (retried after RETRY_SECONDS)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def shared(cls) -> KnowledgeService:
        """The process-wide service configured from the environment."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self._model_spec, threads=self.torch_threads)
        return self._embedder

    @property
    def loaded(self) -> bool:
        return self._retriever is not None

    @property
    def build_dir(self) -> Path | None:
        retriever = self._retriever
        return retriever.data.path if retriever else None

    def status(self) -> dict[str, Any]:
        retriever = self._retriever
        return {
            "loaded": retriever is not None,
            "build": str(retriever.data.path) if retriever else None,
            "items": len(retriever.items) if retriever else 0,
            "reloads": self.reloads,
            "errors": [str(i) for i in self.last_issues if i.severity == "error"],
        }

    def load(self) -> None:
        """Load (building first if needed) synchronously; idempotent and thread-safe."""
        if self._retriever is not None:
            return
        with self._load_lock:
            if self._retriever is not None:
                return
            if time.monotonic() - self._failed_at < self.RETRY_SECONDS:
                raise KnowledgeUnavailable("no usable knowledge index (retrying shortly): "
                                           + "; ".join(str(i) for i in self.last_issues
                                                       if i.severity == "error")[:2000])
            self._fingerprint = _fingerprint(self.kb_dir, self.dict_dir)
            self._rebuild_and_swap(initial=True)
            if self._retriever is None:
                self._failed_at = time.monotonic()
                raise KnowledgeUnavailable(
                    f"no usable knowledge index in {self.index_dir}: "
                    + "; ".join(str(i) for i in self.last_issues if i.severity == "error")[:2000])
        self._start_watcher()

    async def warm_up(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.load)

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None

    # ------------------------------------------------------------------ search

    def search_sync(self, query: str, area: str | None = None, district: str | None = None,
                    top_k: int = 3) -> SearchResult:
        self.load()
        retriever = self._retriever
        assert retriever is not None
        return retriever.search(query, area=area, district=district, top_k=top_k)

    async def search(self, query: str, area: str | None = None, district: str | None = None,
                     top_k: int = 3) -> SearchResult:
        """Search from async code; CPU work runs in the default thread executor."""
        call = functools.partial(self.search_sync, query, area, district, top_k)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def get_sync(self, item_id: str) -> Hit | None:
        self.load()
        retriever = self._retriever
        assert retriever is not None
        return retriever.get(item_id)

    async def get(self, item_id: str) -> Hit | None:
        """The entry a resident picked (e.g. from a clarification button), unless unknown or
        expired."""
        call = functools.partial(self.get_sync, item_id)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    # ------------------------------------------------------------------ reload

    def _analyzer_for_build(self) -> TextAnalyzer:
        if self._analyzer is None or self._analyzer.dictionary_hash != dictionary_hash(
                self.dict_dir):
            self._analyzer = TextAnalyzer(self.dict_dir)
        return self._analyzer

    def _rebuild_and_swap(self, initial: bool = False) -> BuildReport | None:
        """Build if the files changed, then serve the published build if it is not the one
        serving. Keeps the current retriever on any failure."""
        report: BuildReport | None = None
        current = self._retriever
        try:
            analyzer = self._analyzer_for_build()
            report = build(self.kb_dir, self.index_dir, self.embedder, progress=False,
                           dict_dir=self.dict_dir, analyzer=analyzer,
                           cache=self._parse_cache, lint_cache=self._lint_cache,
                           loaded=current.data if current else None)
            if not report.published and not report.up_to_date:
                for issue in report.issues:
                    if issue.severity == "error" and issue.blocking:
                        log.error("knowledge file error (index not updated): %s", issue)
            self.last_issues = report.issues  # after logging: watchers of these see the log
            self.last_report = report
            if report.published and report.data is not None:
                self._serve(report.data, analyzer)
                return report
        except Exception:
            log.exception("knowledge index build failed; the last good index keeps serving")
        self._swap_to_published()
        return report

    def _serve(self, data: IndexData, analyzer: TextAnalyzer | None = None) -> None:
        """Build a retriever over ``data`` and swap it in (one reference assignment)."""
        started = time.perf_counter()
        current = self._retriever
        if analyzer is None or data.manifest["dictionary_hash"] != analyzer.dictionary_hash:
            analyzer = self._analyzer_for_build()
            if data.manifest["dictionary_hash"] != analyzer.dictionary_hash:
                analyzer = TextAnalyzer(self.dict_dir)
        retriever = Retriever(data, self.embedder, analyzer, previous=current)
        self._retriever = retriever  # atomic swap: searches in flight keep the old reference
        if current is not None:
            self.reloads += 1
        self.last_swap_seconds = time.perf_counter() - started
        log.info("knowledge index %s serving (%d items, retriever ready in %.2fs)",
                 data.path.name, len(retriever.items), self.last_swap_seconds)

    def _swap_to_published(self) -> None:
        published = current_build(self.index_dir)
        if published is None:
            return
        current = self._retriever
        if current is not None and current.data.path == published:
            return
        try:
            known = {seg.id: seg for seg in current.data.segments} if current else None
            data = load_build(published, known=known)  # reads only the segments not in memory
            self._serve(data)
        except Exception:
            log.exception("cannot load knowledge index %s; keeping the current one", published)

    def reload_now(self) -> BuildReport | None:
        """Rebuild if needed and swap now (what the watcher does on a change)."""
        with self._load_lock:
            self._fingerprint = _fingerprint(self.kb_dir, self.dict_dir)
            return self._rebuild_and_swap()

    def _start_watcher(self) -> None:
        if not self.watch or self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._watch_loop, name="knowledge-watcher",
                                         daemon=True)
        self._watcher.start()

    def _watch_loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                current = _fingerprint(self.kb_dir, self.dict_dir)
                if current != self._fingerprint:
                    # let a burst of writes settle before building
                    while True:
                        self._stop.wait(self.settle_seconds)
                        again = _fingerprint(self.kb_dir, self.dict_dir)
                        if again == current or self._stop.is_set():
                            break
                        current = again
                    with self._load_lock:
                        self._fingerprint = current
                        self._rebuild_and_swap()
                else:
                    with self._load_lock:
                        self._swap_to_published()
            except Exception:
                log.exception("knowledge watcher error")
