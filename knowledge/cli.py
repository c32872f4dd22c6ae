"""Command line of the knowledge engine: ``python -m knowledge.cli`` (wrapped by ``scripts/kb``).

    scripts/kb import FILE --into DIR [--area AREA] [--force]
    scripts/kb lint [--kb DIR]
    scripts/kb build [--kb DIR] [--index DIR] [--force]
    scripts/kb search [--kb DIR] [--index DIR] [--top-k K] [--json] [--batch FILE] ["问题" ...]
    scripts/kb eval [--kb DIR] [--index DIR] [--set FILE_OR_DIR]
    scripts/kb calibrate [--kb DIR] [--index DIR] [--set FILE_OR_DIR]

``search``/``eval``/``calibrate`` build the index first when it is missing or stale. With
``--json`` stdout carries exactly one JSON object per question and nothing else; progress bars
and logs go to stderr. Exit codes: 0 ok, 1 errors in the files or input, 2 no usable index.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from .citation import DEFAULT_SOURCE_TEMPLATE, format_source_line

log = logging.getLogger("knowledge")


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _add_common(parser: argparse.ArgumentParser, index: bool = True) -> None:
    parser.add_argument("--kb", type=Path, help="knowledge folder (default: MINSHENG_KB_DIR or "
                        "knowledge/kb)")
    parser.add_argument("--dict", type=Path, help="dictionary folder (default: "
                        "MINSHENG_DICT_DIR or knowledge/dict)")
    if index:
        parser.add_argument("--index", type=Path, help="index folder (default: "
                            "MINSHENG_INDEX_DIR or var/index)")
        parser.add_argument("--model", help="embedding model folder (default: "
                            "MINSHENG_EMBEDDING_MODEL or m3e-small)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/kb", description="民生助手 knowledge engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="convert .xlsx/.csv/.jsonl into knowledge files")
    p.add_argument("file", type=Path)
    p.add_argument("--into", type=Path, required=True, help="KB folder to write into")
    p.add_argument("--area", help="area for rows without an 'area' column")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")

    p = sub.add_parser("lint", help="check the knowledge files")
    _add_common(p, index=False)
    p.add_argument("--today", type=date.fromisoformat, help=argparse.SUPPRESS)

    p = sub.add_parser("build", help="build (incrementally) and publish the index")
    _add_common(p)
    p.add_argument("--force", action="store_true", help="full rebuild")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("search", help="ask questions")
    _add_common(p)
    p.add_argument("question", nargs="*")
    p.add_argument("--batch", type=Path, help="file with one question per line")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--json", action="store_true", help="one JSON object per question")
    p.add_argument("--area")
    p.add_argument("--district")

    p = sub.add_parser("eval", help="measure quality on the eval set")
    _add_common(p)
    p.add_argument("--set", type=Path, help="eval JSONL file or folder (default knowledge/eval)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = sub.add_parser("calibrate", help="choose fusion weights and thresholds on the eval set")
    _add_common(p)
    p.add_argument("--set", type=Path, help="eval JSONL file or folder (default knowledge/eval)")
    p.add_argument("--dry-run", action="store_true", help="do not save into the manifest")
    return parser


# ---------------------------------------------------------------- helpers


def _settings(args: argparse.Namespace) -> Any:
    from .settings import Settings

    settings = Settings.from_env()
    return {
        "kb": args.kb or settings.kb_dir,
        "dict": args.dict or settings.dict_dir,
        "index": getattr(args, "index", None) or settings.index_dir,
        "eval": getattr(args, "set", None) or settings.eval_dir,
        "model": getattr(args, "model", None) or settings.model_path(),
    }


def _print_issues(issues: Sequence[Any], out: TextIO) -> None:
    for issue in issues:
        print(issue, file=out)


def open_retriever(args: argparse.Namespace, progress: bool = True, threads: int | None = 1
                   ) -> Any:
    """Build when missing/stale (keeping the last good index on errors), then load."""
    from .embedder import make_embedder
    from .index import build, current_build, load_index, stale_reason
    from .retriever import Retriever
    from .tokenizer import TextAnalyzer

    conf = _settings(args)
    embedder = make_embedder(str(conf["model"]), threads=threads)
    analyzer = TextAnalyzer(conf["dict"])
    reason = stale_reason(conf["kb"], conf["index"], embedder, conf["dict"])
    if reason:
        log.info("building the index: %s", reason)
        report = build(conf["kb"], conf["index"], embedder, progress=progress,
                       dict_dir=conf["dict"], analyzer=analyzer)
        if not report.published and not report.up_to_date:
            _print_issues([i for i in report.issues if i.severity == "error"], sys.stderr)
            if current_build(conf["index"]) is None:
                raise CliError("no usable index: fix the errors above", 2)
            print("warning: the files have errors; searching the last good index",
                  file=sys.stderr)
    data = load_index(conf["index"])
    if data.manifest["dictionary_hash"] != analyzer.dictionary_hash:
        analyzer = TextAnalyzer(conf["dict"])
    return Retriever(data, embedder, analyzer)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[TextIO]:
    """Keep stdout clean: anything libraries print goes to stderr; yields the real stdout."""
    real = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        yield real


def _preview(result: Any, out: TextIO) -> None:
    labels = {"answer": "回答", "clarify": "请用户确认", "none": "不回答"}
    print(f"问：{result.query}", file=out)
    print(f"结果：{result.outcome}（{labels[result.outcome]}）", file=out)
    for number, hit in enumerate(result.hits, start=1):
        sc = hit.scores
        print(f"{number}. [{hit.id}] {hit.question}  score {hit.score:.3f} "
              f"(words {sc.get('words', 0):.2f}, chars {sc.get('chars', 0):.2f}, "
              f"dense {sc.get('dense', 0):.2f})", file=out)
        if number == 1 or result.outcome != "answer":
            print(f"   答：{hit.answer}", file=out)
            if hit.spoken:
                print(f"   语音：{hit.spoken}", file=out)
            line = format_source_line(DEFAULT_SOURCE_TEMPLATE, hit.source, hit.effective)
            if line:
                print(f"   {line}", file=out)
        print(f"   文件：{hit.file}:{hit.line}   匹配：{hit.matched[:40]}", file=out)
    print(file=out)


# ---------------------------------------------------------------- commands


def cmd_import(args: argparse.Namespace) -> int:
    from .importer import ImportFailed, import_file

    try:
        report = import_file(args.file, args.into, area=args.area, force=args.force)
    except ImportFailed as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 1
    for path in report.files:
        print(f"wrote {path}")
    print(f"{report.faq} FAQ entries, {report.passages} passages")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint_dir

    conf = _settings(args)
    kb, issues = lint_dir(conf["kb"], args.today)
    _print_issues(issues, sys.stdout)
    errors = sum(1 for i in issues if i.severity == "error")
    warnings = len(issues) - errors
    print(f"{len(kb.items)} items in {len(kb.files)} files: {errors} errors, "
          f"{warnings} warnings")
    return 1 if errors else 0


def cmd_build(args: argparse.Namespace) -> int:
    from .embedder import make_embedder
    from .index import build

    conf = _settings(args)
    with _stdout_to_stderr() as out:
        report = build(conf["kb"], conf["index"], make_embedder(str(conf["model"])),
                       progress=not args.no_progress, dict_dir=conf["dict"], force=args.force)
    _print_issues(report.issues, out)
    if not report.published and not report.up_to_date:
        print(f"not published: {report.reason}", file=out)
        return 1
    if report.up_to_date:
        print(f"{report.reason}: {report.n_items} items, {report.n_rows} rows "
              f"({report.build_dir})", file=out)
        return 0
    print(f"published {report.build_dir}: {report.n_items} items, {report.n_rows} rows, "
          f"{report.embedded} texts embedded, {report.reused} reused "
          f"({'full rebuild' if report.full_rebuild else 'incremental'}) "
          f"in {report.seconds:.1f}s", file=out)
    return 0


def _questions(args: argparse.Namespace) -> list[str]:
    questions = [q for q in args.question if q.strip()]
    if args.batch:
        text = args.batch.read_text("utf-8-sig")
        questions += [line.strip() for line in text.splitlines() if line.strip()]
    return questions


def cmd_search(args: argparse.Namespace) -> int:
    questions = _questions(args)
    if not questions:
        raise CliError("give a question or --batch FILE")
    with _stdout_to_stderr() as out:
        retriever = open_retriever(args, progress=True)
        for question in questions:
            result = retriever.search(question, area=args.area, district=args.district,
                                      top_k=args.top_k)
            if args.json:
                out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
                out.flush()
            else:
                _preview(result, out)
    return 0


def _eval_cases(args: argparse.Namespace) -> list[Any]:
    from .evaluation import load_eval

    path = Path(_settings(args)["eval"])
    if not path.exists():
        raise CliError(f"eval set not found: {path}")
    try:
        cases = load_eval(path)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if not cases:
        raise CliError(f"eval set is empty: {path}")
    return cases


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate

    cases = _eval_cases(args)
    with _stdout_to_stderr() as out:
        retriever = open_retriever(args)
        retriever.search("预热")  # load the model before timing
        report = evaluate(retriever, cases)
    m = report.metrics
    if args.json:
        out.write(json.dumps(m, ensure_ascii=False) + "\n")
        return 0
    print(f"eval: {len(cases)} questions, index {retriever.data.path.name}, model "
          f"{retriever.data.manifest['model']['name']}", file=out)
    if "hit@1" in m:
        print(f"hit@1 {m['hit@1']:.3f}   hit@3 {m['hit@3']:.3f}   MRR {m['mrr']:.3f}", file=out)
    print(f"outcome accuracy {m['accuracy']:.3f}", file=out)
    for outcome in ("answer", "clarify", "none"):
        print(f"  {outcome:8s} precision {m[outcome + '.precision']:.3f}  recall "
              f"{m[outcome + '.recall']:.3f}  (predicted {int(m[outcome + '.predicted'])}, "
              f"expected {int(m[outcome + '.expected'])})", file=out)
    print(f"latency p50 {m['latency.p50_ms']:.1f} ms   p95 {m['latency.p95_ms']:.1f} ms",
          file=out)
    wrong = report.wrong()
    print(f"\nwrong ({len(wrong)}):", file=out)
    for r in wrong:
        got = ", ".join(f"{i} {c:.2f}" for i, c in zip(r.ids[:3], r.confidences[:3],
                                                         strict=False))
        print(f"  {r.case.q}\n    expected {r.case.expect} {r.case.ids}; got {r.outcome}: "
              f"{got}   ({r.case.where})", file=out)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .evaluation import calibrate
    from .index import update_manifest

    cases = _eval_cases(args)
    with _stdout_to_stderr() as out:
        retriever = open_retriever(args)
        started = time.perf_counter()
        result = calibrate(retriever, cases)
    print(f"calibrated on {len(cases)} questions in {time.perf_counter() - started:.1f}s; "
          "best settings:", file=out)
    print("  accuracy  MRR    none.P answer.P  fusion", file=out)
    for row in result["table"][:10]:
        f = row["fusion"]
        print(f"  {row['accuracy']:.3f}    {row['mrr']:.3f}  {row['none.precision']:.3f}  "
              f"{row['answer.precision']:.3f}    {f['method']} words {f['w_words']:.1f} chars "
              f"{f['w_chars']:.1f} dense {f['w_dense']:.1f} body {f['answer_row_weight']}",
              file=out)
    print(f"chosen fusion: {json.dumps(result['fusion'], ensure_ascii=False)}", file=out)
    print(f"chosen thresholds: {json.dumps(result['thresholds'])}", file=out)
    if not args.dry_run:
        conf = _settings(args)
        update_manifest(conf["index"], fusion=result["fusion"], thresholds=result["thresholds"],
                        calibration={**result["summary"], "cases": result["cases"],
                                     "set": str(conf["eval"]),
                                     "at": datetime.now(UTC).isoformat(timespec="seconds")})
        print(f"saved into {conf['index']} (manifest.json)", file=out)
    return 0


COMMANDS = {"import": cmd_import, "lint": cmd_lint, "build": cmd_build, "search": cmd_search,
            "eval": cmd_eval, "calibrate": cmd_calibrate}


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        import jieba  # cheap: the dictionary loads later, in a private Tokenizer

        jieba.setLogLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
