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

    unique = sorted(set(issues), key=lambda i: (i.file, i.line, i.severity, i.message))
    return unique


def lint_dir(kb_dir: Path | str, today: date | None = None) -> tuple[KnowledgeBase, list[Issue]]:
    kb = load_kb(kb_dir)
    return kb, lint_kb(kb, today)


def has_blocking(issues: list[Issue]) -> bool:
    return any(i.severity == "error" and i.blocking for i in issues)
