"""Parse the files of a KB folder into typed items, remembering the source line of every field.

Layout: ``<kb>/<area>/<topic>.yml`` (FAQ ``entries:`` or ``passages:``) and
``<kb>/<area>/policies/<name>.md`` (Markdown policy documents with YAML front matter).
The area is the first folder under the KB folder.

The loader never raises on bad content: problems that stop a file or an entry from being read
are returned as :class:`~knowledge.model.Issue` (with file and line); the field checks that need
the whole base (required fields, duplicates, dates, voice length) live in :mod:`knowledge.lint`.
YAML is read node by node (``yaml.compose``) so every value keeps its line, and timestamps are
*not* resolved by YAML (a bad date such as ``2023-02-30`` must be a lint error, not a crash).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .model import Issue, Item, Link, Source

MAX_FILE_BYTES = 2 * 1024 * 1024
FAQ_SUFFIXES = (".yml", ".yaml")
POLICY_SUFFIXES = (".md",)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ENTRY_FIELDS = {
    "id", "question", "similar", "answer", "spoken", "source", "links", "effective",
    "reviewed", "expires", "scope", "uncertain", "title", "area",
}
SOURCE_FIELDS = {"issuer", "title", "number", "url"}
SCOPE_FIELDS = {"district", "street"}
FIELD_NAMES_ZH = {
    "id": "编号", "question": "标准问", "similar": "相似问", "answer": "答案",
    "spoken": "语音答案", "source": "来源", "source.issuer": "发布机关", "source.title": "文件名称",
    "source.number": "文号", "source.url": "网址", "effective": "施行日期",
    "reviewed": "审核日期", "expires": "失效日期", "title": "标题", "links": "链接",
    "scope.district": "区", "scope.street": "街道", "uncertain": "待核实",
}


def field_label(name: str) -> str:
    zh = FIELD_NAMES_ZH.get(name)
    return f"'{name}' ({zh})" if zh else f"'{name}'"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml when available: ~10x faster) that leaves dates as strings."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class ItemLines:
    """Line of each field of one item (``source.issuer`` style names), plus similar questions."""

    entry: int
    fields: dict[str, int] = field(default_factory=dict)
    similar: list[int] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)  # raw text of date fields, for lint

    def of(self, name: str) -> int:
        return self.fields.get(name, self.entry)


@dataclass
class KnowledgeBase:
    """Everything read from one KB folder."""

    root: Path
    items: list[Item] = field(default_factory=list)
    lines: list[ItemLines] = field(default_factory=list)  # parallel to items
    issues: list[Issue] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content hash
    cache: dict[str, Any] | None = None  # see load_kb(cache=...)

    def add(self, item: Item, lines: ItemLines) -> None:
        self.items.append(item)
        self.lines.append(lines)


def iter_kb_files(kb_dir: Path) -> Iterator[Path]:
    """Files the loader looks at, in a stable order (editor backups and hidden files skipped)."""
    if not kb_dir.is_dir():
        return
    for path in sorted(kb_dir.rglob("*")):
        if not path.is_file():
            continue
        rel_parts = path.relative_to(kb_dir).parts
        if any(part.startswith((".", "~", "#")) for part in rel_parts):
            continue
        name = path.name
        if name.endswith(("~", ".swp", ".swx", ".tmp", ".bak")):
            continue
        if name.lower().startswith("readme"):
            continue
        yield path


def file_hash(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return f"too-large:{size}:{path.stat().st_mtime_ns}"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


def read_text(path: Path, rel: str) -> tuple[str | None, list[Issue]]:
    """Read a knowledge file as text: UTF-8 (BOM allowed), CRLF/CR normalised to LF."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        mb = size / 1024 / 1024
        return None, [Issue("error", rel, 0, f"file too large ({mb:.1f} MB, limit "
                            f"{MAX_FILE_BYTES // 1024 // 1024} MB): split it into smaller files",
                            "too-large")]
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [Issue("error", rel, 1, "file is UTF-16 encoded; save it as UTF-8",
                            "encoding")]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        return None, [Issue("error", rel, 0, "empty file", "empty")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        try:
            data.decode("gb18030")
            msg = "file is not UTF-8 (it looks like GBK/GB18030, 国标码); save it as UTF-8"
        except UnicodeDecodeError:
            msg = f"file is not valid UTF-8 (bad byte at offset {exc.start}); save it as UTF-8"
        return None, [Issue("error", rel, line, msg, "encoding")]
    if "\x00" in text:
        return None, [Issue("error", rel, 1, "file contains NUL bytes (binary file?)",
                            "encoding")]
    return text.replace("\r\n", "\n").replace("\r", "\n"), []


def compose_yaml(text: str, rel: str, line_offset: int = 0) -> tuple[Node | None, list[Issue]]:
    loader = _Loader(text)
    try:
        return loader.get_single_node(), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1 + line_offset) if mark else line_offset + 1
        line = min(line, text.count("\n") + 1 + line_offset)  # libyaml may point past the end
        problem = (exc.problem or str(exc)).strip()
        context = exc.context_mark if exc.problem_mark else None
        if exc.context and context is not None and context.line + 1 + line_offset != line:
            problem += f" ({exc.context} at line {context.line + 1 + line_offset})"
        return None, [Issue("error", rel, line, f"malformed YAML: {problem}", "yaml")]
    except yaml.YAMLError as exc:
        return None, [Issue("error", rel, line_offset + 1, f"malformed YAML: {exc}", "yaml")]
    finally:
        loader.dispose()


def _line(node: Node, offset: int) -> int:
    return node.start_mark.line + 1 + offset


def _pairs(node: MappingNode, rel: str, offset: int, issues: list[Issue]
           ) -> dict[str, tuple[Node, Node]]:
    out: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
        if key in out:
            issues.append(Issue("warning", rel, _line(key_node, offset),
                                f"field '{key}' is given twice in the same block; the last one "
                                "wins", "duplicate-key", blocking=False))
        out[key] = (key_node, value_node)
    return out


def _text(node: Node) -> str | None:
    if isinstance(node, ScalarNode):
        if node.tag == "tag:yaml.org,2002:null":
            return None
        return str(node.value)
    return None


class _Reader:
    """Turns one entry mapping (with inherited defaults) into an Item and its ItemLines."""

    def __init__(self, rel: str, area: str, offset: int, issues: list[Issue]) -> None:
        self.rel = rel
        self.area = area
        self.offset = offset
        self.issues = issues

    def flatten(self, node: Node | None, where: str) -> dict[str, Node]:
        """Flatten a mapping to ``{"field": node, "source.issuer": node, ...}``."""
        if node is None:
            return {}
        if not isinstance(node, MappingNode):
            self.issues.append(Issue("error", self.rel, _line(node, self.offset),
                                     f"{where} must be a mapping of field: value", "structure"))
            return {}
        flat: dict[str, Node] = {}
        for key, (key_node, value) in _pairs(node, self.rel, self.offset, self.issues).items():
            if key in ("source", "scope"):
                allowed = SOURCE_FIELDS if key == "source" else SCOPE_FIELDS
                if isinstance(value, MappingNode):
                    for sub, (sub_key, sub_value) in _pairs(value, self.rel, self.offset,
                                                            self.issues).items():
                        if sub not in allowed:
                            self.issues.append(Issue(
                                "warning", self.rel, _line(sub_key, self.offset),
                                f"unknown field '{key}.{sub}' (known: "
                                f"{', '.join(sorted(allowed))})",
                                "unknown-field", blocking=False))
                        flat[f"{key}.{sub}"] = sub_value
                elif key == "source" and _text(value):
                    flat["source.issuer"] = value  # `source: 北京市民政局` means the issuer
                elif _text(value) is not None:
                    self.issues.append(Issue("error", self.rel, _line(value, self.offset),
                                             f"field '{key}' must be a mapping", "structure"))
                continue
            if key not in ENTRY_FIELDS:
                self.issues.append(Issue("warning", self.rel, _line(key_node, self.offset),
                                         f"unknown field '{key}' (typo?)", "unknown-field",
                                         blocking=False))
            flat[key] = value
        return flat

    def item(self, kind: str, entry: MappingNode, defaults: dict[str, Node]) -> tuple[Item,
                                                                                      ItemLines]:
        own = self.flatten(entry, "an entry")
        fields = {**defaults, **own}
        lines = ItemLines(entry=_line(entry, self.offset))
        for name, value in fields.items():
            lines.fields[name] = _line(value, self.offset)

        def text(name: str) -> str:
            node = fields.get(name)
            if node is None:
                return ""
            value = _text(node)
            if value is None and not (isinstance(node, ScalarNode)):
                self.issues.append(Issue("error", self.rel, _line(node, self.offset),
                                         f"field {field_label(name)} must be text", "structure"))
            return (value or "").strip()

        def day(name: str) -> date | None:
            raw = text(name)
            if not raw:
                return None
            lines.raw[name] = raw
            if DATE_RE.match(raw):
                try:
                    return date.fromisoformat(raw)
                except ValueError:
                    return None
            return None

        similar: list[str] = []
        node = fields.get("similar")
        if isinstance(node, SequenceNode):
            for child in node.value:
                value = _text(child)
                if value and value.strip():
                    similar.append(value.strip())
                    lines.similar.append(_line(child, self.offset))
        elif node is not None and _text(node):
            similar.append(str(_text(node)).strip())
            lines.similar.append(_line(node, self.offset))
            self.issues.append(Issue("warning", self.rel, _line(node, self.offset),
                                     "field 'similar' (相似问) should be a list (- …)",
                                     "structure", blocking=False))

        links: list[Link] = []
        node = fields.get("links")
        if isinstance(node, SequenceNode):
            for child in node.value:
                if isinstance(child, MappingNode):
                    pairs = {k: _text(v[1]) or "" for k, v in
                             _pairs(child, self.rel, self.offset, self.issues).items()}
                    if pairs.get("url"):
                        links.append(Link(title=pairs.get("title", "") or pairs["url"],
                                          url=pairs["url"]))
                elif _text(child):
                    links.append(Link(title=str(_text(child)), url=str(_text(child))))

        uncertain_node = fields.get("uncertain")
        uncertain = bool(
            isinstance(uncertain_node, ScalarNode)
            and str(uncertain_node.value).lower() in ("true", "yes", "on", "1", "是")
        )
        if "area" in own and text("area") and text("area") != self.area:
            self.issues.append(Issue("warning", self.rel, lines.of("area"),
                                     f"field 'area' says '{text('area')}' but the file is in "
                                     f"folder '{self.area}'; the folder wins", "area",
                                     blocking=False))
        spoken = text("spoken") or None
        item = Item(
            id=text("id"),
            kind=kind,  # type: ignore[arg-type]
            area=self.area,
            question=text("question"),
            answer=text("answer"),
            similar=tuple(similar),
            spoken=spoken,
            source=Source(issuer=text("source.issuer"), title=text("source.title"),
                          number=text("source.number"), url=text("source.url")),
            links=tuple(links),
            effective=day("effective"),
            reviewed=day("reviewed"),
            expires=day("expires"),
            district=text("scope.district") or None,
            street=text("scope.street") or None,
            uncertain=uncertain,
            title=text("title"),
            file=self.rel,
            line=lines.entry,
        )
        return item, lines


def _area_of(rel_path: Path) -> str:
    return rel_path.parts[0] if len(rel_path.parts) > 1 else ""


def load_yaml_file(text: str, rel: str, area: str, kb: KnowledgeBase) -> None:
    root, issues = compose_yaml(text, rel)
    kb.issues.extend(issues)
    if root is None:
        if not issues:
            kb.issues.append(Issue("error", rel, 0, "empty file", "empty"))
        return
    if not isinstance(root, MappingNode):
        kb.issues.append(Issue("error", rel, _line(root, 0),
                               "the file must be a mapping with 'entries:' (and optional "
                               "'defaults:')", "structure"))
        return
    reader = _Reader(rel, area, 0, kb.issues)
    top = _pairs(root, rel, 0, kb.issues)
    for key, (key_node, _value) in top.items():
        if key not in ("defaults", "entries", "passages"):
            kb.issues.append(Issue("warning", rel, _line(key_node, 0),
                                   f"unknown top-level key '{key}' (expected defaults, entries "
                                   "or passages)", "unknown-field", blocking=False))
    defaults = reader.flatten(top["defaults"][1], "'defaults'") if "defaults" in top else {}
    found = False
    for key, kind in (("entries", "faq"), ("passages", "passage")):
        if key not in top:
            continue
        found = True
        seq = top[key][1]
        if not isinstance(seq, SequenceNode):
            if _text(seq) is None and isinstance(seq, ScalarNode):
                kb.issues.append(Issue("error", rel, _line(top[key][0], 0),
                                       f"'{key}:' is empty", "empty"))
            else:
                kb.issues.append(Issue("error", rel, _line(seq, 0),
                                       f"'{key}:' must be a list of entries (- id: …)",
                                       "structure"))
            continue
        for entry in seq.value:
            if not isinstance(entry, MappingNode):
                kb.issues.append(Issue("error", rel, _line(entry, 0),
                                       "each entry must be a mapping (id:, question:, answer: …)",
                                       "structure"))
                continue
            item, lines = reader.item(kind, entry, defaults)
            if kind == "passage" and not item.question:
                item.question = item.title or item.answer.split("\n", 1)[0][:40]
            kb.add(item, lines)
    if not found:
        kb.issues.append(Issue("error", rel, 1, "no 'entries:' list in this file", "structure"))


FRONT_MATTER_END = re.compile(r"^(---|\.\.\.)\s*$", re.M)
HEADING_RE = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")


def split_markdown(body: str) -> list[tuple[str, int, str]]:
    """Split a Markdown body by ``#``/``##``/``###`` headings.

    Returns ``(heading, line, text)`` for each section that has text (the line is 1-based within
    ``body``); text before the first heading gets the heading ``""``. Headings inside fenced code
    blocks are ignored.
    """
    sections: list[tuple[str, int, list[str]]] = [("", 1, [])]
    fenced = False
    for number, line in enumerate(body.split("\n"), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else HEADING_RE.match(line)
        if match:
            sections.append((match.group(2).strip(), number, []))
        else:
            sections[-1][2].append(line)
    out = []
    for heading, line_no, body_lines in sections:
        text = "\n".join(body_lines).strip()
        if text:
            out.append((heading, line_no, text))
    return out


def load_markdown_file(text: str, rel: str, area: str, kb: KnowledgeBase) -> None:
    if not text.startswith("---\n"):
        kb.issues.append(Issue("error", rel, 1, "policy document must start with a YAML front "
                               "matter block between '---' lines (id, title, source, effective, "
                               "reviewed)", "front-matter"))
        return
    match = FRONT_MATTER_END.search(text, 4)
    if match is None:
        kb.issues.append(Issue("error", rel, 1, "front matter is not closed: add a line '---' "
                               "after the fields", "front-matter"))
        return
    fm_text = text[4:match.start()]
    fm_root, issues = compose_yaml(fm_text, rel, line_offset=1)
    kb.issues.extend(issues)
    if issues:
        return
    if not isinstance(fm_root, MappingNode):
        kb.issues.append(Issue("error", rel, 2, "front matter must be a mapping of field: value "
                               "(id, title, source, effective, reviewed)", "front-matter"))
        return
    body_start_line = text.count("\n", 0, match.end()) + 1  # line of the body's first line - 1
    body = text[match.end():]
    if body.startswith("\n"):
        body = body[1:]
        body_start_line += 1
    reader = _Reader(rel, area, 1, kb.issues)
    doc, doc_lines = reader.item("passage", fm_root, {})
    for name in ("question", "similar", "answer"):
        if name in doc_lines.fields:
            kb.issues.append(Issue("warning", rel, doc_lines.fields[name],
                                   f"field '{name}' is not used in a policy document's front "
                                   "matter; the body is the answer", "unknown-field",
                                   blocking=False))
    sections = split_markdown(body)
    if not sections:
        kb.issues.append(Issue("error", rel, body_start_line, "policy document has no text "
                               "after the front matter", "empty"))
        return
    doc_title = doc.title or doc.id
    for number, (heading, line_no, section_text) in enumerate(sections, start=1):
        line = body_start_line + line_no - 1
        question = f"{doc_title}：{heading}" if heading else doc_title
        lines = ItemLines(entry=line, fields=dict(doc_lines.fields), raw=dict(doc_lines.raw))
        lines.fields["id"] = doc_lines.of("id")
        passage = Item(
            **{**doc.__dict__,
               "id": f"{doc.id}#{number}" if doc.id else "",
               "question": question,
               "answer": section_text,
               "similar": (),
               "doc_id": doc.id,
               "title": doc_title,
               "line": line},
        )
        kb.add(passage, lines)
    # An entry for the document itself is not indexed; its required fields are linted once via
    # the first passage (all passages share the front matter).


def load_file(path: Path, kb: KnowledgeBase) -> None:
    rel_path = path.relative_to(kb.root)
    rel = rel_path.as_posix()
    area = _area_of(rel_path)
    suffix = path.suffix.lower()
    if suffix not in FAQ_SUFFIXES + POLICY_SUFFIXES:
        kb.issues.append(Issue("warning", rel, 0, "ignored: knowledge files are .yml, .yaml or "
                               ".md", "ignored", blocking=False))
        return
    digest = file_hash(path)
    kb.files[rel] = digest
    cached = kb.cache.get(rel) if kb.cache is not None else None
    if cached is not None and cached[0] == digest:
        _, items, lines, issues = cached
        kb.items.extend(items)
        kb.lines.extend(lines)
        kb.issues.extend(issues)
        return
    start_items, start_issues = len(kb.items), len(kb.issues)
    _parse_file(path, rel, area, suffix, kb)
    if kb.cache is not None:
        kb.cache[rel] = (digest, kb.items[start_items:], kb.lines[start_items:],
                         kb.issues[start_issues:])


def _parse_file(path: Path, rel: str, area: str, suffix: str, kb: KnowledgeBase) -> None:
    if not area:
        kb.issues.append(Issue("error", rel, 0, "file must be inside an area folder "
                               "(kb/<area>/…)", "area"))
        return
    text, issues = read_text(path, rel)
    kb.issues.extend(issues)
    if text is None:
        return
    if suffix in FAQ_SUFFIXES:
        load_yaml_file(text, rel, area, kb)
    else:
        load_markdown_file(text, rel, area, kb)


def load_kb(kb_dir: Path | str, cache: dict[str, Any] | None = None) -> KnowledgeBase:
    """Read every knowledge file under ``kb_dir``.

    ``cache`` (a dict kept by the caller, e.g. the service between reloads) maps a file to its
    parsed items by content hash, so only changed files are parsed again.
    """
    root = Path(kb_dir)
    kb = KnowledgeBase(root=root, cache=cache)
    if not root.is_dir():
        kb.issues.append(Issue("error", str(root), 0, "knowledge folder does not exist",
                               "missing"))
        return kb
    paths = list(iter_kb_files(root))
    if cache is not None:
        live = {p.relative_to(root).as_posix() for p in paths}
        for rel in [r for r in cache if r not in live]:
            del cache[rel]
    for path in paths:
        try:
            load_file(path, kb)
        except OSError as exc:
            kb.issues.append(Issue("error", path.relative_to(root).as_posix(), 0,
                                   f"cannot read file: {exc}", "io"))
    return kb
