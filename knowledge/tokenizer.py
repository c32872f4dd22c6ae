"""Chinese text analysis shared with NLU: one private ``jieba.Tokenizer`` plus synonyms.

- Dictionary: every ``*.txt`` file in ``<dict>/jieba/`` (the folder Rasa's ``JiebaTokenizer``
  loads through ``config.yml`` ``dictionary_path``), loaded into a private ``jieba.Tokenizer()``
  instance, never the global one.
- Synonyms: ``<dict>/synonyms/*.yml``, each a YAML list of lists; the first word of a group is
  canonical. :meth:`TextAnalyzer.normalize` rewrites every variant to its canonical word
  (longest match first) in queries and documents alike, which is the same as expanding both sides.
- :meth:`words` (jieba words without stop words) and :meth:`char_ngrams` feed the two BM25
  channels; :attr:`dictionary_hash` goes into the index manifest so a dictionary change forces a
  full rebuild.

Nothing is loaded until first use; loading is thread-safe.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

ANALYZER_VERSION = "1"
_STOP_TEXT = (
    "的 了 吗 呢 啊 呀 吧 嘛 哦 么 啦 哈 嗯 哎 诶 请问 请 问 一下 我 "
    "我们 你 你们 您 他 她 它 是 在 和 与 及 或 就 都 也 还 又 要 想 "
    "能 可以 有 没有 个 这 那 这个 那个 这样 那样 什么 怎么样 一个 给 把 被 让 对 从 "
    "到 为 为了 呗 咧 嘞 哇"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())
_KEEP_RE = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]+")
_SPACE_RE = re.compile(r"\s+")


def _read_synonyms(path: Path) -> list[list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    groups: list[list[str]] = []
    if not isinstance(data, list):
        log.warning("%s: synonyms file must be a YAML list of lists; ignored", path)
        return groups
    for group in data:
        if isinstance(group, list):
            words = [str(w).strip() for w in group if str(w).strip()]
            if len(words) >= 2:
                groups.append(words)
    return groups


def dictionary_files(dict_dir: Path | None) -> list[Path]:
    if dict_dir is None:
        return []
    files = sorted((dict_dir / "jieba").glob("*.txt")) if (dict_dir / "jieba").is_dir() else []
    syn_dir = dict_dir / "synonyms"
    if syn_dir.is_dir():
        files += sorted(p for p in syn_dir.iterdir() if p.suffix in (".yml", ".yaml"))
    return files


def dictionary_hash(dict_dir: Path | None) -> str:
    """Hash of the analyser version, jieba dictionary files and synonym files."""
    digest = hashlib.sha256(f"analyzer:{ANALYZER_VERSION}\n".encode())
    for path in dictionary_files(dict_dir):
        assert dict_dir is not None
        digest.update(path.relative_to(dict_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class TextAnalyzer:
    """Normalises and splits Chinese text for retrieval."""

    def __init__(self, dict_dir: Path | str | None = None) -> None:
        self.dict_dir = Path(dict_dir) if dict_dir is not None else None
        self._lock = threading.Lock()
        self._jieba = None
        self._synonym_re: re.Pattern[str] | None = None
        self._canonical: dict[str, str] = {}
        self._hash: str | None = None

    @property
    def dictionary_hash(self) -> str:
        if self._hash is None:
            self._hash = dictionary_hash(self.dict_dir)
        return self._hash

    def _load(self):
        if self._jieba is not None:
            return self._jieba
        with self._lock:
            if self._jieba is not None:
                return self._jieba
            import jieba

            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            canonical: dict[str, str] = {}
            if self.dict_dir is not None:
                jieba_dir = self.dict_dir / "jieba"
                for path in sorted(jieba_dir.glob("*.txt")) if jieba_dir.is_dir() else []:
                    try:
                        tokenizer.load_userdict(str(path))
                    except Exception as exc:  # a broken dictionary line must not stop search
                        log.error("%s: cannot load jieba dictionary: %s", path, exc)
                syn_dir = self.dict_dir / "synonyms"
                for path in sorted(syn_dir.glob("*.y*ml")) if syn_dir.is_dir() else []:
                    try:
                        groups = _read_synonyms(path)
                    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
                        log.error("%s: cannot read synonyms: %s", path, exc)
                        continue
                    for group in groups:
                        head = self._clean(group[0])
                        for word in group:
                            key = self._clean(word)
                            if key and key != head:
                                canonical.setdefault(key, head)
                        if head and len(head) > 1:
                            tokenizer.add_word(head, 2000)
            self._canonical = canonical
            if canonical:
                alternatives = sorted(canonical, key=len, reverse=True)
                self._synonym_re = re.compile("|".join(re.escape(w) for w in alternatives))
            self._jieba = tokenizer
            return tokenizer

    @staticmethod
    def _clean(text: str) -> str:
        return _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()

    def normalize(self, text: str) -> str:
        """NFKC, lower case, synonyms replaced by their canonical word."""
        self._load()
        clean = self._clean(text)
        if self._synonym_re is not None:
            clean = self._synonym_re.sub(lambda m: self._canonical[m.group(0)], clean)
        return clean

    def segment(self, text: str) -> list[str]:
        """jieba words of the text as written (NFKC, lower case; no synonyms, nothing removed)."""
        return self._load().lcut(self._clean(text))

    def words(self, text: str, normalized: bool = False) -> list[str]:
        """jieba words of the normalised text, punctuation and stop words removed."""
        tokenizer = self._load()
        clean = text if normalized else self.normalize(text)
        out = []
        for word in tokenizer.lcut(clean):
            word = word.strip()
            if not word or word in STOP_WORDS or not _KEEP_RE.search(word):
                continue
            out.append(word)
        return out

    def char_ngrams(self, text: str, normalized: bool = False, n: int = 2) -> list[str]:
        """Character n-grams (plus single characters of one-character runs) of the text."""
        clean = text if normalized else self.normalize(text)
        grams: list[str] = []
        for run in _KEEP_RE.findall(clean):
            if len(run) < n:
                grams.append(run)
            else:
                grams.extend(run[i:i + n] for i in range(len(run) - n + 1))
        return grams
