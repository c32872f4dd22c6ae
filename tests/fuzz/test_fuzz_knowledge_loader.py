"""Fuzzing the knowledge-file loader (knowledge/loader.py) and the linter behind it.

The loader's contract: it never raises on bad content; every problem is an ``Issue`` with the
file and a line. Content staff write these files by hand (YAML with typos, wrong encodings,
half-finished front matter), and a crash here would stop ``scripts/kb lint`` and every index
rebuild. Files are drawn as raw bytes, as YAML built from random structures (aliases, tags,
dates, nested junk), and as Markdown policy documents with random front matter."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from knowledge.lint import lint_kb
from knowledge.loader import load_kb
from knowledge.model import Issue
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.unit

AREA = "养老"
FIELDS = ["id", "question", "similar", "answer", "spoken", "source", "links", "effective",
          "reviewed", "expires", "scope", "uncertain", "title", "area", "typo"]

text = st.text(max_size=30)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True), text, st.dates().map(str),
                    st.sampled_from(["2023-02-30", "2024-13-01", "0000-00-00", "是", "~"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(FIELDS) | text, inner, max_size=3),
                      max_leaves=8)
entries = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)
documents = st.one_of(
    values,
    st.fixed_dictionaries({}, optional={
        "defaults": entries | values,
        "entries": st.lists(entries | values, max_size=4) | values,
        "passages": st.lists(entries | values, max_size=3) | values,
        "other": values,
    }),
)
yaml_snippets = st.sampled_from([
    "entries:\n  - &a {id: x}\n  - *a\n",
    "entries: &e [*e]\n",
    "defaults: &d {source: {issuer: 北京}}\nentries:\n  - <<: *d\n    id: y\n",
    "entries:\n  - !!python/object:os.system {}\n",
    "entries:\n  - id: !!binary aGVsbG8=\n",
    "--- \nentries: []\n---\nentries: []\n",
    "entries:\n  - id: a\n    answer: |\n  bad indent\n",
    "\t- tab\n",
    "entries:\n  - {id: a, id: b}\n",
    "entries:\n  - ? [complex, key]\n    : value\n",
    "entries:\n  - effective: 2023-02-30\n",
    "%YAML 1.1\n---\nentries: []\n",
])


def yaml_text(value: object) -> str:
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=False)


front_matter = st.one_of(documents.map(yaml_text), st.text(max_size=80))
markdown = st.builds(
    lambda fm, body, close: f"---\n{fm}{close}{body}",
    front_matter, st.text(max_size=200) | st.sampled_from(["# 一\n正文\n", "```\n# x\n```\n"]),
    st.sampled_from(["---\n", "...\n", "", "--- trailing\n"]),
)


def load_one(name: str, content: bytes) -> tuple[list[Issue], int]:
    """Loads a KB folder holding one file; returns the issues (loader + lint) and items."""
    with tempfile.TemporaryDirectory() as folder:
        kb_dir = Path(folder)
        (kb_dir / AREA / "policies").mkdir(parents=True)
        (kb_dir / AREA / name).write_bytes(content)
        kb = load_kb(kb_dir)
        issues = kb.issues + lint_kb(kb, today=date(2026, 1, 1))
        for item in kb.items:
            assert item.area == AREA
            assert item.file == f"{AREA}/{name}"
            assert item.line >= 0
    for issue in issues:
        assert isinstance(issue, Issue)
        assert issue.severity in ("error", "warning")
        assert isinstance(issue.line, int) and issue.line >= 0, issue
    return issues, len(kb.items)


@fuzz_settings(80)
@given(content=st.binary(max_size=600))
@example(content=b"\xff\xfeentries: []")  # UTF-16
@example(content="entries:\n  - id: 甲\n".encode("gb18030"))
@example(content=b"\x00\x01\x02")
@example(content=b"")
def test_any_bytes_as_a_faq_file(content: bytes) -> None:
    load_one("topic.yml", content)


@fuzz_settings(150)
@given(document=documents)
def test_yaml_of_any_shape(document: object) -> None:
    load_one("topic.yml", yaml_text(document).encode("utf-8"))


@fuzz_settings(60)
@given(snippet=yaml_snippets, tail=st.text(max_size=40))
def test_yaml_with_aliases_tags_and_broken_indentation(snippet: str, tail: str) -> None:
    load_one("topic.yml", (snippet + tail).encode("utf-8"))  # no exception is the property


@fuzz_settings(120)
@given(content=markdown)
@example(content="---\n---\n")
@example(content="---\nid: p\n---\n")
@example(content="---\n[1, 2]\n---\n# 标题\n正文\n")
def test_markdown_policy_documents(content: str) -> None:
    load_one("policies/doc.md", content.encode("utf-8"))


def test_a_self_referencing_alias_is_an_issue_not_a_crash():
    issues, items = load_one("topic.yml", b"entries: &e [*e]\n")
    assert items == 0 and issues
