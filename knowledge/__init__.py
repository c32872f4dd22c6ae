"""民生助手 knowledge engine: files -> lint -> index -> hybrid search (see knowledge/README.md).

Importing this package loads nothing (no model, index or dictionary). Entry points:

- :class:`knowledge.service.KnowledgeService` — async search with hot reload (action server);
- :func:`knowledge.citation.format_source_line` — the source line from a domain template;
- ``python -m knowledge.cli`` / ``scripts/kb`` — import, lint, build, search, eval, calibrate.
"""
