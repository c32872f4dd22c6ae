from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from _kb_support import GOOD_KB

from knowledge.loader import load_kb, split_markdown

pytestmark = pytest.mark.unit


def test_loads_faq_entries_and_policy_passages() -> None:
    kb = load_kb(GOOD_KB)
    assert not [i for i in kb.issues if i.severity == "error"]
    by_id = {item.id: item for item in kb.items}
    assert len(kb.items) == 36
    assert {item.area for item in kb.items} == {"政务服务", "养老", "医疗", "文旅"}
    apply = by_id["yl-zhucanka-apply"]
    assert apply.kind == "faq"
    assert apply.area == "养老"
    assert apply.file == "养老/养老助残卡.yml"
    assert apply.line == 9
    assert len(apply.similar) == 4
    # inherited from `defaults`
    assert apply.source.issuer == "北京市民政局"
    assert apply.source.title == "北京通—养老助残卡服务管理办法"
    assert apply.effective == date(2023, 1, 1)
    # an entry's own value wins over defaults, field by field
    assert by_id["zw-jiehun"].source.issuer == "北京市民政局"
    assert by_id["zw-jiehun"].source.url == "https://zwfwj.beijing.gov.cn/"
    assert by_id["zw-zhengwu-center"].district == "示范区"


def test_policy_passages_split_by_heading_with_ids_and_lines() -> None:
    kb = load_kb(GOOD_KB)
    passages = [i for i in kb.items if i.doc_id == "yl-policy-gaoling"]
    assert [p.id for p in passages] == [f"yl-policy-gaoling#{n}" for n in (1, 2, 3)]
    assert passages[1].question == "北京市老年人高龄津贴政策要点：二、申领方式"
    assert passages[1].answer.startswith("高龄津贴随养老助残卡发放")
    assert passages[1].line == 15  # the heading line in the file
    assert passages[0].source.number == "京民养老发〔2019〕151号"
    assert all(p.kind == "passage" and p.area == "养老" for p in passages)


def test_split_markdown_ignores_headings_in_code_and_keeps_preamble() -> None:
    body = "导言\n# 一\n甲\n```\n# 不是标题\n```\n## 二\n\n### 三\n丙\n#### 四级仍是正文\n"
    sections = split_markdown(body)
    assert [(h, line) for h, line, _ in sections] == [("", 1), ("一", 2), ("三", 9)]
    assert "# 不是标题" in sections[1][2]
    assert "#### 四级仍是正文" in sections[2][2]


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    area = tmp_path / "政务服务"
    area.mkdir()
    text = ("entries:\r\n  - id: zw-bom\r\n    question: 带BOM的文件\r\n    answer: 可以读\r\n"
            "    source: {issuer: 某局}\r\n    effective: 2023-01-01\r\n"
            "    reviewed: 2026-01-01\r\n")
    (area / "bom.yml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    kb = load_kb(tmp_path)
    assert not kb.issues
    assert kb.items[0].id == "zw-bom"
    assert kb.items[0].question == "带BOM的文件"
    assert kb.items[0].line == 2


def test_passages_yaml_and_dates_stay_strings_until_checked(tmp_path: Path) -> None:
    area = tmp_path / "医疗"
    area.mkdir()
    (area / "p.yml").write_text(
        "defaults:\n  source: 北京市医疗保障局\n  effective: 2023-01-01\n  reviewed: 2026-01-01\n"
        "passages:\n  - id: yb-p1\n    answer: 一段没有问题的政策原文。\n"
        "  - id: yb-p2\n    title: 第二段\n    answer: 另一段。\n    expires: 2023-02-30\n",
        encoding="utf-8")
    kb = load_kb(tmp_path)
    assert [i.id for i in kb.items] == ["yb-p1", "yb-p2"]
    assert kb.items[0].kind == "passage"
    assert kb.items[0].question == "一段没有问题的政策原文。"
    assert kb.items[0].source.issuer == "北京市医疗保障局"  # `source: text` means the issuer
    assert kb.items[1].question == "第二段"
    assert kb.items[1].expires is None  # bad date: reported by lint, not a crash
    assert kb.lines[1].raw["expires"] == "2023-02-30"
    assert kb.lines[1].of("expires") == 11


def test_file_hashes_and_ignored_files(tmp_path: Path) -> None:
    area = tmp_path / "文旅"
    area.mkdir()
    (area / "notes.txt").write_text("随手记", encoding="utf-8")
    (area / ".hidden.yml").write_text("x", encoding="utf-8")
    (area / "draft.yml~").write_text("x", encoding="utf-8")
    (area / "README.md").write_text("# 说明", encoding="utf-8")
    kb = load_kb(tmp_path)
    assert kb.files == {}
    assert [(i.file, i.severity, i.code) for i in kb.issues] == [
        ("文旅/notes.txt", "warning", "ignored")]
