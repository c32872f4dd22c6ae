"""The sensitive-word list and its Aho-Corasick matcher (safety/words.py), and the knowledge
linter's use of it (knowledge/lint.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from knowledge.lint import lint_dir, sensitive_word_issues
from safety.words import DEFAULT_FILE, WordList, WordListError, load, mask, parse, squeeze

pytestmark = pytest.mark.unit

LIST = """# a comment
[abuse]
傻逼
操你妈

[illegal]
办假证找我
"""


def words() -> WordList:
    return WordList(parse(LIST.splitlines()))


def test_the_maintained_list_reads_and_is_marked_as_a_demo() -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    assert "DEMO LIST" in text.splitlines()[0]
    listed = load(DEFAULT_FILE)
    assert len(listed) >= 10
    assert {entry.category for entry in listed.entries} == {"abuse", "illegal"}


def test_matching_ignores_case_width_spaces_and_punctuation() -> None:
    found = words().find("你这个傻 逼！操*你*妈")
    assert [(hit.word, hit.category) for hit in found] == [("傻逼", "abuse"), ("操你妈", "abuse")]
    text = "你这个傻 逼！"
    hit = found[0]
    assert text[hit.start:hit.end] == "傻 逼"


def test_ordinary_messages_match_nothing() -> None:
    for text in ("社保卡丢了怎么补办", "举报有人办假证", "傻瓜相机哪里修", ""):
        assert words().find(text) == []


def test_every_occurrence_is_found_in_one_pass() -> None:
    assert len(words().find("傻逼傻逼，办假证找我")) == 3


def test_masked_log_text_hides_the_words_and_long_numbers() -> None:
    text = "傻逼，我电话13812345678"
    masked = mask(text, words().find(text))
    assert "傻逼" not in masked and "13812345678" not in masked
    assert masked == "**，我电话###########"
    assert mask("长" * 200, [], keep=10) == "长" * 10 + "…"


@pytest.mark.parametrize(("lines", "error"), [
    (["傻逼"], r"list.txt:1: a word before the first \[category\]"),
    (["[abuse]", "傻逼", "傻 逼"], "repeats line 2"),
    (["[abuse", "x"], "bad category"),
    (["[abuse]", "！！"], "no letters or digits"),
])
def test_format_errors_name_the_line(lines: list[str], error: str) -> None:
    with pytest.raises(WordListError, match=error):
        parse(lines, "list.txt")


def test_squeeze_keeps_positions() -> None:
    squeezed, where = squeeze("Ａ b，c")
    assert squeezed == "abc" and where == [0, 2, 4]


def test_knowledge_files_with_a_sensitive_word_fail_lint_at_file_and_line(tmp_path: Path) -> None:
    area = tmp_path / "政务服务"
    area.mkdir()
    (area / "faq.yml").write_text(
        "- id: zw-test\n"
        "  question: 居住证怎么办\n"
        "  similar: [居住证办理, 办居住证, 居住证在哪办, 居住证要什么]\n"
        "  answer: |\n"
        "    带身份证去派出所。\n"
        "    不要相信办假证找我的小广告。\n"
        "  source: {issuer: 北京市公安局}\n"
        "  effective: 2024-01-01\n"
        "  reviewed: 2025-01-01\n",
        encoding="utf-8",
    )
    kb, issues = lint_dir(tmp_path, date(2025, 6, 1))
    sensitive = [i for i in issues if i.code == "sensitive-word"]
    assert [(i.file, i.line, i.severity, i.blocking) for i in sensitive] == [
        ("政务服务/faq.yml", 6, "error", True)]
    assert "办假证找我" in sensitive[0].message
    assert sensitive_word_issues(kb, words()) == sensitive


def test_the_shipped_knowledge_base_is_clean() -> None:
    kb_dir = Path(__file__).resolve().parents[2] / "knowledge" / "kb"
    _, issues = lint_dir(kb_dir)
    assert [str(i) for i in issues if i.code.startswith("sensitive")] == []
