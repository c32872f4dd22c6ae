"""Check a knowledge base and report every problem with file and line.

Errors marked ``blocking`` stop a build from publishing (the last good index keeps serving).
An expired entry is an error for ``scripts/kb lint`` (staff must remove or renew it) but does not
block publishing: the retriever never answers an expired item anyway, and blocking would freeze
every other update on the day an entry expires.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

from safety.words import WordList
from safety.words import load as load_words

from .loader import DATE_RE, KnowledgeBase, field_label, load_kb
from .model import Issue

VOICE_LIMIT = 120
MIN_SIMILAR = 4
REQUIRED_FAQ = ("id", "question", "answer", "source.issuer", "effective", "reviewed")
REQUIRED_PASSAGE = ("id", "answer", "source.issuer", "effective", "reviewed")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PUNCT_RE = re.compile(r"[\s\W_]+", re.UNICODE)


def _norm_question(text: str) -> str:
    return _PUNCT_RE.sub("", unicodedata.normalize("NFKC", text).lower())


def lint_kb(kb: KnowledgeBase, today: date | None = None) -> list[Issue]:
    """All issues of a loaded base (loader issues included), sorted by file and line."""
    today = today or date.today()
    issues: list[Issue] = list(kb.issues)
    ids: dict[str, tuple[str, int]] = {}
    questions: dict[str, tuple[int, str, str, int]] = {}  # text -> (entry, id, file, line)

    for entry_no, (item, lines) in enumerate(zip(kb.items, kb.lines, strict=True)):
        rel = item.file
        required = REQUIRED_FAQ if item.kind == "faq" else REQUIRED_PASSAGE
        values = {
            "id": item.id if item.kind == "faq" else item.doc_id or item.id,
            "question": item.question, "answer": item.answer,
            "source.issuer": item.source.issuer,
            "effective": lines.raw.get("effective"), "reviewed": lines.raw.get("reviewed"),
        }
        for name in required:
            if not values.get(name):
                issues.append(Issue("error", rel, lines.entry,
                                    f"missing required field {field_label(name)}", "missing"))

        own_id = item.id if item.kind == "faq" else item.doc_id
        if own_id and not ID_RE.match(own_id):
            issues.append(Issue("error", rel, lines.of("id"),
                                f"id '{own_id}' may only use letters, digits, '-', '_' and '.'",
                                "bad-id"))
        if item.id:
            if item.id in ids:
                other_file, other_line = ids[item.id]
                issues.append(Issue("error", rel, lines.of("id"),
                                    f"duplicate id '{item.id}': also used at "
                                    f"{other_file}:{other_line}", "duplicate-id"))
                issues.append(Issue("error", other_file, other_line,
                                    f"duplicate id '{item.id}': also used at {rel}:"
                                    f"{lines.of('id')}", "duplicate-id"))
            else:
                ids[item.id] = (rel, lines.of("id"))

        for name in ("effective", "reviewed", "expires"):
            raw = lines.raw.get(name)
            if raw and getattr(item, name) is None:
                hint = "use YYYY-MM-DD" if not DATE_RE.match(raw) else "no such day"
                issues.append(Issue("error", rel, lines.of(name),
                                    f"bad date '{raw}' in {field_label(name)}: {hint}",
                                    "bad-date"))
        if item.expires and item.expires < today:
            issues.append(Issue("error", rel, lines.of("expires"),
                                f"entry '{item.id}' expired on {item.expires.isoformat()} "
                                "(失效日期); it is no longer answered — renew or remove it",
                                "expired", blocking=False))
        if item.expires and item.effective and item.expires < item.effective:
            issues.append(Issue("warning", rel, lines.of("expires"),
                                "'expires' (失效日期) is before 'effective' (施行日期)",
                                "dates", blocking=False))
        if item.reviewed and item.reviewed > today:
            issues.append(Issue("warning", rel, lines.of("reviewed"),
                                f"'reviewed' (审核日期) {item.reviewed.isoformat()} is in the "
                                "future", "dates", blocking=False))

        if item.kind == "faq":
            if item.spoken is not None and len(item.spoken) > VOICE_LIMIT:
                issues.append(Issue("warning", rel, lines.of("spoken"),
                                    f"'spoken' (语音答案) has {len(item.spoken)} characters; "
                                    f"keep it at most {VOICE_LIMIT} for the voice line",
                                    "voice", blocking=False))
            elif item.spoken is None and len(item.answer) > VOICE_LIMIT:
                issues.append(Issue("warning", rel, lines.of("answer"),
                                    f"answer has {len(item.answer)} characters and no 'spoken' "
                                    f"(语音答案): add a spoken version of at most {VOICE_LIMIT} "
                                    "characters for the voice line", "voice", blocking=False))
            if item.question and len(item.similar) < MIN_SIMILAR:
                issues.append(Issue("warning", rel, lines.of("similar"),
                                    f"only {len(item.similar)} similar questions (相似问); write "
                                    f"at least {MIN_SIMILAR} the way residents ask",
                                    "few-similar", blocking=False))
            texts = [(item.question, lines.of("question"), "question")]
            texts += [(s, ln, "similar") for s, ln in zip(item.similar, lines.similar,
                                                          strict=False)]
            seen_here: set[str] = set()
            for text, line, what in texts:
                key = _norm_question(text)
                if not key:
                    continue
                if key in seen_here:
                    if what == "similar":
                        issues.append(Issue("warning", rel, line,
                                            f"similar question '{text}' repeats a question of "
                                            "the same entry", "repeat", blocking=False))
                    continue
                seen_here.add(key)
                if key in questions and questions[key][0] != entry_no:
                    _, other_id, other_file, other_line = questions[key]
                    issues.append(Issue("error", rel, line,
                                        f"question '{text}' is also under entry '{other_id}' at "
                                        f"{other_file}:{other_line}; one question, one entry",
                                        "duplicate-question"))
                elif key not in questions:
                    questions[key] = (entry_no, item.id, rel, line)

    issues += sensitive_word_issues(kb)
    unique = sorted(set(issues), key=lambda i: (i.file, i.line, i.severity, i.message))
    return unique


def sensitive_word_issues(kb: KnowledgeBase, words: WordList | None = None) -> list[Issue]:
    """An error (blocking: it is not published) at file:line for every word of the sensitive
    list (knowledge/safety/sensitive_words.txt, see safety/words.py) in a knowledge file. The
    files are read as they are, so the line is exact whatever the field."""
    if words is None:
        try:
            words = load_words()
        except (OSError, ValueError) as error:
            return [Issue("error", "sensitive_words.txt", 0,
                          f"the sensitive-word list cannot be read: {error}", "sensitive-list")]
    issues = []
    for rel in sorted(kb.files):
        try:
            text = (kb.root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the loader already reported it
        for number, line in enumerate(text.splitlines(), 1):
            for hit in words.find(line):
                issues.append(Issue("error", rel, number,
                                    f"sensitive word '{hit.word}' ({hit.category}) in the text; "
                                    "rephrase it (list: knowledge/safety/sensitive_words.txt)",
                                    "sensitive-word"))
    return issues


def lint_dir(kb_dir: Path | str, today: date | None = None) -> tuple[KnowledgeBase, list[Issue]]:
    kb = load_kb(kb_dir)
    return kb, lint_kb(kb, today)


def has_blocking(issues: list[Issue]) -> bool:
    return any(i.severity == "error" and i.blocking for i in issues)


DUPLICATE_CODES = ("duplicate-id", "duplicate-question")


def lint_kb_incremental(kb: KnowledgeBase, cache: dict[str, Any],
                        today: date | None = None) -> list[Issue]:
    """The same issues as :func:`lint_kb`, checking again only the files whose content changed
    since the last call with this ``cache`` (a dict the caller keeps, e.g. the service).

    Each file is checked on its own with :func:`lint_kb` (cached by its content hash and the
    date). For duplicates across files the cache keeps, for every id and question key, the
    files that have it, updated file by file; :func:`lint_kb` then runs once more over just the
    entries whose id or question another file also has (usually none), so every message is
    exactly the one a full lint gives.
    """
    today = today or date.today()
    files: dict[str, tuple[Any, list[Issue], tuple[set[str], set[str]]]] = \
        cache.setdefault("files", {})
    owners: dict[str, dict[str, set[str]]] = cache.setdefault("owners", {"id": {}, "q": {}})
    shared: dict[str, set[str]] = cache.setdefault("shared", {"id": set(), "q": set()})

    def account(rel: str, keys: tuple[set[str], set[str]], add: bool) -> None:
        for kind, values in zip(("id", "q"), keys, strict=True):
            table = owners[kind]
            for value in values:
                holders = table.setdefault(value, set())
                if add:
                    holders.add(rel)
                else:
                    holders.discard(rel)
                if len(holders) > 1:
                    shared[kind].add(value)
                else:
                    shared[kind].discard(value)
                    if not holders:
                        del table[value]

    by_file: dict[str, tuple[list[Any], list[Any]]] = {}
    last, group = None, None
    for item, lines in zip(kb.items, kb.lines, strict=True):
        if item.file != last:
            last = item.file
            group = by_file.setdefault(last, ([], []))
        group[0].append(item)  # type: ignore[index]
        group[1].append(lines)  # type: ignore[index]
    issues: list[Issue] = []
    file_issues: dict[str, list[Issue]] = {}
    for issue in kb.issues:
        if issue.file in kb.files:
            file_issues.setdefault(issue.file, []).append(issue)
        else:
            issues.append(issue)  # not about a knowledge file (e.g. an ignored one)
    for rel in [r for r in files if r not in kb.files]:
        account(rel, files.pop(rel)[2], add=False)
    for rel, digest in kb.files.items():
        stamp = (digest, today)
        cached = files.get(rel)
        if cached is None or cached[0] != stamp:
            items, lines = by_file.get(rel, ([], []))
            sub = KnowledgeBase(root=kb.root, items=items, lines=lines,
                                issues=file_issues.get(rel, []), files={rel: digest})
            keys = ({item.id for item in items if item.id},
                    {k for item in items for k in (_norm_question(t) for t in
                                                   (item.question, *item.similar)) if k})
            if cached is not None:
                account(rel, cached[2], add=False)
            account(rel, keys, add=True)
            cached = (stamp, lint_kb(sub, today), keys)
            files[rel] = cached
        issues.extend(cached[1])
    if shared["id"] or shared["q"]:
        involved_files = set().union(*(owners["id"][k] for k in shared["id"]),
                                     *(owners["q"][k] for k in shared["q"]))
        items, lines = [], []
        for rel in kb.files:
            if rel not in involved_files:
                continue
            for item, line in zip(*by_file.get(rel, ([], [])), strict=True):
                if item.id in shared["id"] or any(
                        k in shared["q"] for k in (_norm_question(t) for t in
                                                   (item.question, *item.similar))):
                    items.append(item)
                    lines.append(line)
        sub = KnowledgeBase(root=kb.root, items=items, lines=lines)
        issues.extend(i for i in lint_kb(sub, today) if i.code in DUPLICATE_CODES)
    return sorted(set(issues), key=lambda i: (i.file, i.line, i.severity, i.message))
