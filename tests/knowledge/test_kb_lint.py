from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from _kb_support import BAD_KB, GOOD_KB

from knowledge.lint import has_blocking, lint_dir
from knowledge.model import Issue

pytestmark = pytest.mark.unit
TODAY = date(2026, 6, 1)


def _find(issues: list[Issue], file: str, line: int, words: str) -> Issue:
    for issue in issues:
        if issue.file == file and issue.line == line and words in issue.message:
            return issue
    listing = "\n".join(str(i) for i in issues)
    raise AssertionError(f"no issue {file}:{line} containing {words!r} in:\n{listing}")


@pytest.fixture(scope="module")
def bad_issues() -> list[Issue]:
    return lint_dir(BAD_KB, TODAY)[1]


def test_good_kb_only_reports_its_expired_entry() -> None:
    _, issues = lint_dir(GOOD_KB, TODAY)
    errors = [i for i in issues if i.severity == "error"]
    assert [(i.file, i.line, i.code) for i in errors] == [("养老/居家养老.yml", 40, "expired")]
    assert not has_blocking(issues)  # expired entries never block publishing


def test_malformed_yaml_names_file_and_line(bad_issues: list[Issue]) -> None:
    issue = _find(bad_issues, "政务服务/malformed.yml", 5, "malformed YAML")
    assert "line 4" in issue.message and issue.severity == "error" and issue.blocking


def test_malformed_front_matter(bad_issues: list[Issue]) -> None:
    _find(bad_issues, "养老/policies/bad-front-matter.md", 5, "malformed YAML")
    _find(bad_issues, "养老/policies/no-front-matter.md", 1, "front matter")


def test_empty_file(bad_issues: list[Issue]) -> None:
    issue = _find(bad_issues, "养老/empty.yml", 0, "empty file")
    assert str(issue) == "养老/empty.yml: error: empty file"


def test_missing_required_fields(bad_issues: list[Issue]) -> None:
    _find(bad_issues, "政务服务/fields.yml", 7, "missing required field 'answer' (答案)")
    _find(bad_issues, "政务服务/fields.yml", 38, "missing required field 'id' (编号)")
    _find(bad_issues, "政务服务/fields.yml", 38, "'source.issuer' (发布机关)")


def test_duplicate_id_names_both_places(bad_issues: list[Issue]) -> None:
    first = _find(bad_issues, "政务服务/fields.yml", 10, "duplicate id 'zw-dup'")
    second = _find(bad_issues, "政务服务/fields.yml", 14, "duplicate id 'zw-dup'")
    assert "政务服务/fields.yml:14" in first.message
    assert "政务服务/fields.yml:10" in second.message


def test_same_similar_question_under_two_entries(bad_issues: list[Issue]) -> None:
    issue = _find(bad_issues, "政务服务/fields.yml", 16, "重复的相似问")
    assert "政务服务/fields.yml:12" in issue.message and issue.severity == "error"


def test_bad_dates(bad_issues: list[Issue]) -> None:
    assert "no such day" in _find(bad_issues, "政务服务/fields.yml", 22, "'2023-02-30'").message
    assert "YYYY-MM-DD" in _find(bad_issues, "政务服务/fields.yml", 23, "'2026/05/01'").message


def test_expired_entry_is_a_non_blocking_error(bad_issues: list[Issue]) -> None:
    issue = _find(bad_issues, "政务服务/fields.yml", 28, "expired on 2021-01-01")
    assert issue.severity == "error" and not issue.blocking


def test_too_long_for_voice(bad_issues: list[Issue]) -> None:
    no_spoken = _find(bad_issues, "政务服务/fields.yml", 32, "no 'spoken'")
    long_spoken = _find(bad_issues, "政务服务/fields.yml", 37, "'spoken' (语音答案) has 132")
    assert no_spoken.severity == long_spoken.severity == "warning"


def test_bad_kb_blocks_publishing(bad_issues: list[Issue]) -> None:
    assert has_blocking(bad_issues)


def _write(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / "政务服务" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


GOOD_ENTRY = ("entries:\n  - id: zw-x\n    question: 居住证怎么办\n    similar: [甲, 乙, 丙, 丁]\n"
              "    answer: 到派出所办理。\n    source: {issuer: 北京市公安局}\n"
              "    effective: 2023-01-01\n    reviewed: 2026-01-01\n")


def test_gbk_file_is_reported_not_crashed(tmp_path: Path) -> None:
    _write(tmp_path, "gbk.yml", GOOD_ENTRY.encode("gbk"))
    _, issues = lint_dir(tmp_path, TODAY)
    issue = _find(issues, "政务服务/gbk.yml", 3, "GBK")
    assert issue.code == "encoding" and issue.blocking


def test_bom_and_crlf_lint_clean(tmp_path: Path) -> None:
    _write(tmp_path, "crlf.yml", b"\xef\xbb\xbf" + GOOD_ENTRY.replace("\n", "\r\n").encode())
    _, issues = lint_dir(tmp_path, TODAY)
    assert issues == []


def test_ten_megabyte_file_is_refused_without_parsing(tmp_path: Path) -> None:
    _write(tmp_path, "huge.yml", GOOD_ENTRY.encode() + b"#" * (10 * 1024 * 1024))
    kb, issues = lint_dir(tmp_path, TODAY)
    issue = _find(issues, "政务服务/huge.yml", 0, "file too large (10.0 MB")
    assert issue.severity == "error" and kb.items == []


def test_whitespace_only_file_is_empty(tmp_path: Path) -> None:
    _write(tmp_path, "blank.yml", b"\xef\xbb\xbf  \r\n\n")
    _, issues = lint_dir(tmp_path, TODAY)
    _find(issues, "政务服务/blank.yml", 0, "empty file")


def test_file_outside_area_folder(tmp_path: Path) -> None:
    (tmp_path / "loose.yml").write_text(GOOD_ENTRY, encoding="utf-8")
    _, issues = lint_dir(tmp_path, TODAY)
    _find(issues, "loose.yml", 0, "inside an area folder")


def test_cli_lint_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from knowledge.cli import main

    assert main(["lint", "--kb", str(BAD_KB), "--today", "2026-06-01"]) == 1
    out = capsys.readouterr().out
    assert "政务服务/fields.yml:10: error: duplicate id 'zw-dup'" in out
    _write(tmp_path, "ok.yml", GOOD_ENTRY.encode())
    assert main(["lint", "--kb", str(tmp_path), "--today", "2026-06-01"]) == 0
    assert "1 items in 1 files: 0 errors, 0 warnings" in capsys.readouterr().out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_incremental_lint_gives_the_full_lint_and_checks_only_changed_files(
        tmp_path: Path) -> None:
    from knowledge.lint import lint_kb, lint_kb_incremental
    from knowledge.loader import load_kb

    for source in (GOOD_KB, BAD_KB):
        kb = load_kb(source)
        assert lint_kb_incremental(kb, {}, TODAY) == lint_kb(kb, TODAY)
    root = _copy(GOOD_KB, tmp_path / "kb")
    cache: dict = {}
    lint_kb_incremental(load_kb(root), cache, TODAY)
    before = dict(cache["files"])
    # duplicates across files: an id and a similar question that another file also has
    extra = root / "文旅" / "重复.yml"
    extra.write_text(
        "defaults: {source: {issuer: 北京市文化和旅游局}, effective: 2023-01-01, "
        "reviewed: 2026-01-01}\nentries:\n"
        "  - id: wl-library\n    question: 图书馆几点开门\n    similar: [订个篮球场]\n"
        "    answer: 问图书馆。\n", "utf-8")
    kb = load_kb(root)
    issues = lint_kb_incremental(kb, cache, TODAY)
    assert issues == lint_kb(kb, TODAY)
    codes = {(i.file, i.code) for i in issues if i.severity == "error"}
    assert {("文旅/重复.yml", "duplicate-id"), ("文旅/重复.yml", "duplicate-question")} <= codes
    assert any(i.code == "duplicate-id" and i.file != "文旅/重复.yml" for i in issues)
    for rel, entry in before.items():
        assert cache["files"][rel] is entry  # unchanged files were not checked again
    extra.unlink()
    kb = load_kb(root)
    assert lint_kb_incremental(kb, cache, TODAY) == lint_kb(kb, TODAY)
    assert "文旅/重复.yml" not in cache["files"]
    assert not cache["shared"]["id"] and not cache["shared"]["q"]
