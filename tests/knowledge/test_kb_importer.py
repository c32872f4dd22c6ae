from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from knowledge.importer import ImportFailed, import_file, stable_id
from knowledge.lint import lint_dir

pytestmark = pytest.mark.unit

HEADER = "id,question,similar_questions,answer,area,source,effective_date,expiry_date,reviewed\n"
ROWS = (
    "zw-a1,居住证怎么办,外地人办居住证|暂住证咋办|居住证去哪办|非京籍居住证,到派出所办理。,"
    "政务服务,北京市公安局,2023-01-01,,2026-05-01\n"
    ",养老卡丢了怎么办,老年卡丢了|养老卡找不到了|养老卡挂失|养老卡补办,先挂失再补办。,"
    "养老,北京市民政局,2023/1/1,2027-12-31,2026-05-01\n"
    "yl-p1,,,高龄津贴随养老助残卡按月发放。,养老,北京市民政局,2020-01-01,,2026-05-01\n"
)


def _check_output(into: Path) -> None:
    faq = (into / "政务服务" / "qa.yml").read_text("utf-8")
    assert "id: zw-a1" in faq and "- 暂住证咋办" in faq
    kb, issues = lint_dir(into, date(2026, 6, 1))
    assert [i for i in issues if i.severity == "error"] == []
    by_id = {i.id: i for i in kb.items}
    assert by_id["zw-a1"].similar == (
        "外地人办居住证", "暂住证咋办", "居住证去哪办", "非京籍居住证")
    assert by_id["zw-a1"].source.issuer == "北京市公安局"
    generated = stable_id("养老", "养老卡丢了怎么办")
    assert by_id[generated].expires == date(2027, 12, 31)
    assert by_id[generated].effective == date(2023, 1, 1)
    passage = by_id["yl-p1"]  # a row without question: a passage, id kept
    assert passage.kind == "passage" and passage.file == "养老/qa-passages.yml"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_utf8_bom_or_gbk(tmp_path: Path, encoding: str) -> None:
    source = tmp_path / "qa.csv"
    source.write_bytes((HEADER + ROWS).encode(encoding))
    report = import_file(source, tmp_path / "kb")
    assert (report.faq, report.passages) == (2, 1)
    _check_output(tmp_path / "kb")


def test_xlsx(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for line in (HEADER + ROWS).splitlines():
        sheet.append(line.split(","))
    sheet["I3"] = date(2026, 5, 1)  # a real date cell
    book.save(tmp_path / "qa.xlsx")
    import_file(tmp_path / "qa.xlsx", tmp_path / "kb")
    _check_output(tmp_path / "kb")


def test_jsonl_with_list_of_similar_questions(tmp_path: Path) -> None:
    rows = []
    for line in ROWS.splitlines():
        cells = line.split(",")
        rows.append({"id": cells[0], "question": cells[1],
                     "similar_questions": cells[2].split("|") if cells[2] else [],
                     "answer": cells[3], "area": cells[4], "source": cells[5],
                     "effective_date": cells[6], "expiry_date": cells[7], "reviewed": cells[8]})
    source = tmp_path / "qa.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    import_file(source, tmp_path / "kb")
    _check_output(tmp_path / "kb")


def test_bad_rows_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(HEADER + "a1,问题,,,政务服务,某局,2023-01-01,,\n"
                      "a1,问题二,,答案,,某局,2023-13-01,,\n"
                      "bad id,问题三,,答案,文旅,某局,,,\n", "utf-8")
    with pytest.raises(ImportFailed) as caught:
        import_file(source, tmp_path / "kb")
    errors = caught.value.errors
    assert "row 2: missing 'answer' (答案)" in errors
    assert "row 3: missing 'area' (领域); add the column or pass --area" in errors
    assert "row 3: duplicate id 'a1' (also row 2)" in errors
    assert "row 3: bad date '2023-13-01' in column 'effective_date' (use YYYY-MM-DD)" in errors
    assert any(e.startswith("row 4: bad id 'bad id'") for e in errors)
    assert not (tmp_path / "kb").exists()


def test_existing_output_needs_force_and_ids_are_stable(tmp_path: Path) -> None:
    source = tmp_path / "qa.csv"
    source.write_text(HEADER + ROWS, "utf-8")
    import_file(source, tmp_path / "kb")
    first = (tmp_path / "kb" / "养老" / "qa.yml").read_text("utf-8")
    with pytest.raises(ImportFailed, match="already exists"):
        import_file(source, tmp_path / "kb")
    import_file(source, tmp_path / "kb", force=True)
    assert (tmp_path / "kb" / "养老" / "qa.yml").read_text("utf-8") == first


def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from knowledge.cli import main

    source = tmp_path / "qa.csv"
    source.write_text(HEADER + ROWS, "utf-8")
    assert main(["import", str(source), "--into", str(tmp_path / "kb")]) == 0
    assert "2 FAQ entries, 1 passages" in capsys.readouterr().out
    assert main(["import", str(source), "--into", str(tmp_path / "kb")]) == 1
    assert "already exists" in capsys.readouterr().err
