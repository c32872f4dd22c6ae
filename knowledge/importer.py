"""Import question/answer tables (.xlsx, .csv, .jsonl) into knowledge files.

Columns (keys in JSONL; Chinese headers accepted too): ``id`` (optional, kept as given; a stable
id is generated from area + text when missing), ``question`` (optional), ``similar_questions``
(a list in JSONL, ``|``-separated in CSV/XLSX), ``answer`` (required), ``area``, ``source`` (the
issuing body), ``effective_date``, ``expiry_date``; optional ``spoken``, ``reviewed``,
``source_title``, ``source_number``, ``source_url``, ``district``.

Output, per area: ``<into>/<area>/<stem>.yml`` (FAQ ``entries:``) for rows with a question, and
``<into>/<area>/<stem>-passages.yml`` (``passages:``) for rows without one, so their ids are kept.
Any bad row stops the import (nothing is written) and every bad row is reported by number.
CSV may be UTF-8 (with or without BOM) or GBK/GB18030.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from .lint import ID_RE

ALIASES = {
    "id": "id", "编号": "id",
    "question": "question", "问题": "question", "标准问": "question",
    "similar_questions": "similar_questions", "similar": "similar_questions",
    "相似问": "similar_questions", "相似问题": "similar_questions",
    "answer": "answer", "答案": "answer", "回答": "answer",
    "area": "area", "领域": "area", "分类": "area",
    "source": "source", "来源": "source", "发布机关": "source",
    "effective_date": "effective_date", "effective": "effective_date", "生效日期": "effective_date",
    "施行日期": "effective_date",
    "expiry_date": "expiry_date", "expires": "expiry_date", "失效日期": "expiry_date",
    "spoken": "spoken", "语音答案": "spoken",
    "reviewed": "reviewed", "审核日期": "reviewed",
    "source_title": "source_title", "文件名称": "source_title",
    "source_number": "source_number", "文号": "source_number",
    "source_url": "source_url", "网址": "source_url",
    "district": "district", "区": "district",
}
_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


class ImportFailed(ValueError):
    """The input cannot be imported; ``errors`` name each bad row."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class ImportReport:
    files: list[Path] = field(default_factory=list)
    faq: int = 0
    passages: int = 0


def _decode_csv(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _canonical(header: str) -> str:
    key = str(header or "").strip().lstrip("\ufeff")
    return ALIASES.get(key.lower(), ALIASES.get(key, key.lower()))


def read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs with canonical column names; ``where`` is e.g. ``row 3``."""
    suffix = path.suffix.lower()
    rows: list[tuple[str, dict[str, Any]]] = []
    if suffix == ".jsonl":
        for number, line in enumerate(path.read_text("utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise ImportFailed([f"{path.name} line {number}: not valid JSON ({exc})"]) from exc
            if not isinstance(data, dict):
                raise ImportFailed([f"{path.name} line {number}: expected a JSON object"])
            rows.append((f"line {number}", {_canonical(k): v for k, v in data.items()}))
    elif suffix == ".csv":
        try:
            text = _decode_csv(path.read_bytes())
        except UnicodeDecodeError as exc:
            raise ImportFailed([f"{path.name}: not UTF-8 or GBK text"]) from exc
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        for record in reader:
            if header is None:
                header = [_canonical(h) for h in record]
                continue
            if not any(cell.strip() for cell in record):
                continue
            rows.append((f"row {reader.line_num}", dict(zip(header, record, strict=False))))
    elif suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            header = None
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if header is None:
                    header = [_canonical(h) for h in values]
                    continue
                if not any(v not in (None, "") for v in values):
                    continue
                rows.append((f"row {number}", dict(zip(header, values, strict=False))))
        finally:
            book.close()
    else:
        raise ImportFailed([f"{path.name}: unsupported file type (use .xlsx, .csv or .jsonl)"])
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _date(value: Any, column: str, where: str, errors: list[str]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE_RE.match(_text(value))
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    errors.append(f"{where}: bad date '{_text(value)}' in column '{column}' (use YYYY-MM-DD)")
    return None


def _similar(value: Any) -> list[str]:
    if value is None:
        return []
    parts = value if isinstance(value, list) else _text(value).split("|")
    return [p for p in (_text(x) for x in parts) if p]


def stable_id(area: str, text: str) -> str:
    digest = hashlib.sha1(f"{area}\n{text}".encode()).hexdigest()[:10]
    return f"imp-{digest}"


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def import_file(path: Path | str, into: Path | str, area: str | None = None,
                force: bool = False) -> ImportReport:
    """Convert ``path`` into knowledge files under ``into``. Raises ImportFailed on bad rows."""
    path, into = Path(path), Path(into)
    errors: list[str] = []
    faq: dict[str, list[dict[str, Any]]] = {}
    passages: dict[str, list[dict[str, Any]]] = {}
    seen: dict[str, str] = {}
    for where, row in read_rows(path):
        answer = _text(row.get("answer"))
        question = _text(row.get("question"))
        row_area = _text(row.get("area")) or (area or "")
        if not answer:
            errors.append(f"{where}: missing 'answer' (答案)")
        if not row_area:
            errors.append(f"{where}: missing 'area' (领域); add the column or pass --area")
        elif "/" in row_area or row_area.startswith("."):
            errors.append(f"{where}: bad area '{row_area}'")
        item_id = _text(row.get("id")) or stable_id(row_area, question or answer)
        if not ID_RE.match(item_id):
            errors.append(f"{where}: bad id '{item_id}' (letters, digits, '-', '_', '.' only)")
        if item_id in seen:
            errors.append(f"{where}: duplicate id '{item_id}' (also {seen[item_id]})")
        seen.setdefault(item_id, where)
        effective = _date(row.get("effective_date"), "effective_date", where, errors)
        expires = _date(row.get("expiry_date"), "expiry_date", where, errors)
        reviewed = _date(row.get("reviewed"), "reviewed", where, errors)
        entry: dict[str, Any] = {"id": item_id}
        if question:
            entry["question"] = question
            entry["similar"] = _similar(row.get("similar_questions"))
        entry["answer"] = answer
        if _text(row.get("spoken")):
            entry["spoken"] = _text(row.get("spoken"))
        source = {k: _text(row.get(col)) for k, col in (("issuer", "source"),
                  ("title", "source_title"), ("number", "source_number"), ("url", "source_url"))}
        source = {k: v for k, v in source.items() if v}
        if source:
            entry["source"] = source
        for key, value in (("effective", effective), ("reviewed", reviewed),
                           ("expires", expires)):
            if value:
                entry[key] = value
        if _text(row.get("district")):
            entry["scope"] = {"district": _text(row.get("district"))}
        (faq if question else passages).setdefault(row_area, []).append(entry)

    outputs: dict[Path, dict[str, Any]] = {}
    for area_name, entries in faq.items():
        outputs[into / area_name / f"{path.stem}.yml"] = {"entries": entries}
    for area_name, entries in passages.items():
        outputs[into / area_name / f"{path.stem}-passages.yml"] = {"passages": entries}
    if not force:
        errors += [f"{out}: already exists (use --force to overwrite)" for out in outputs
                   if out.exists()]
    if errors:
        raise ImportFailed(errors)
    report = ImportReport()
    for out, data in outputs.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        header = f"# imported from {path.name}; check every entry against its source\n"
        body = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
        out.write_text(header + body, encoding="utf-8")
        report.files.append(out)
    report.faq = sum(len(v) for v in faq.values())
    report.passages = sum(len(v) for v in passages.values())
    return report
