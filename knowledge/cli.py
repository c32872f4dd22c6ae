"""Command line of the knowledge engine: ``python -m knowledge.cli`` (wrapped by ``scripts/kb``).

    scripts/kb import FILE --into DIR [--area AREA] [--force]
    scripts/kb lint [--kb DIR]
    scripts/kb build [--kb DIR] [--index DIR] [--force]
    scripts/kb search [--kb DIR] [--index DIR] [--top-k K] [--json] [--batch FILE] ["问题" ...]
    scripts/kb eval [--kb DIR] [--index DIR] [--set FILE_OR_DIR]
    scripts/kb calibrate [--kb DIR] [--index DIR] [--set FILE_OR_DIR]
    scripts/kb report --out FILE [--days N] [--jsonl FILE ...] [--redis] [--export FILE]

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
    p.add_argument("--min-precision", type=float, default=None,
                   help="answer precision to keep (default MINSHENG_KB_MIN_PRECISION or 0.95)")
    p.add_argument("--min-none-precision", type=float, default=None,
                   help="'none' precision to keep: how many of the questions given no answer must "
                   "really be out of scope (default MINSHENG_KB_MIN_NONE_PRECISION or 0.90)")
    p.add_argument("--wrong-answer-cost", type=float, default=None,
                   help="how many right answers one wrong answer outweighs (default "
                   "MINSHENG_KB_WRONG_ANSWER_COST or 3; 0: most coverage)")
    p.add_argument("--folds", type=int, default=None,
                   help="cross-validation folds for the held-out figures (default 5; 0: none)")
    p.add_argument("--dry-run", action="store_true", help="do not save into the manifest")
    p.add_argument("--save-default", action="store_true",
                   help="also save the result as this model's default in "
                   "knowledge/calibration.json (used by fresh indexes)")

    p = sub.add_parser("report", help="write the HTML report for content staff")
    _add_common(p)
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    p.add_argument("--days", type=int, default=30, help="the last N days (0: everything)")
    p.add_argument("--jsonl", type=Path, action="append", default=[],
                   help="read an export (JSONL) instead of Redis; repeatable")
    p.add_argument("--redis", action="store_true", help="read Redis as well as --jsonl files")
    p.add_argument("--redis-url", help="default: REDIS_URL or redis://127.0.0.1:6379/0")
    p.add_argument("--prefix", help="Redis key prefix (default: REDIS_KEY_PREFIX or minsheng)")
    p.add_argument("--export", type=Path, help="also write the data read as JSONL")
    p.add_argument("--threshold", type=float, default=None,
                   help="cosine similarity that puts two unanswered questions in one cluster "
                   "(default 0.8)")
    p.add_argument("--top", type=int, default=20, help="how many top questions")
    p.add_argument("--now", type=float, help=argparse.SUPPRESS)
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
    try:
        data = load_index(conf["index"])
    except ValueError as exc:  # e.g. an index of an older format that could not be rebuilt
        raise CliError(f"no usable index: {exc}", 2) from exc
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
    if result.elsewhere:
        print(f"原因：问的是{result.elsewhere}的政策，知识库只有北京的（dict/places）", file=out)
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


def _print_outcomes(m: dict[str, float], out: TextIO, indent: str = "") -> None:
    if "hit@1" in m:
        print(f"{indent}hit@1 {m['hit@1']:.3f}   hit@3 {m['hit@3']:.3f}   MRR {m['mrr']:.3f}",
              file=out)
    print(f"{indent}coverage {m['coverage']:.3f} (answerable questions answered right)   "
          f"answer precision {m['answer.precision']:.3f}   resolved {m['resolved']:.3f}   "
          f"exact outcome accuracy {m['accuracy']:.3f}", file=out)
    for outcome in ("answer", "clarify", "none"):
        print(f"{indent}  {outcome:8s} precision {m[outcome + '.precision']:.3f}  recall "
              f"{m[outcome + '.recall']:.3f}  (predicted {int(m[outcome + '.predicted'])}, "
              f"expected {int(m[outcome + '.expected'])})", file=out)


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
    manifest = retriever.data.manifest
    print(f"eval: {len(cases)} questions, index {retriever.data.path.name}, model "
          f"{manifest['model']['name']}", file=out)
    _print_outcomes(m, out)
    print(f"latency p50 {m['latency.p50_ms']:.1f} ms   p95 {m['latency.p95_ms']:.1f} ms",
          file=out)
    thresholds = retriever.thresholds
    calibration = manifest.get("calibration") or {}
    if not thresholds.get("calibrated"):
        print("thresholds: not calibrated for this model (defaults); run `scripts/kb calibrate`",
              file=out)
    else:
        print(f"thresholds: calibrated for answer precision >= "
              f"{calibration.get('min_precision', '?')} and none precision >= "
              f"{calibration.get('min_none_precision', '?')} on {calibration.get('cases', '?')} "
              f"questions ({calibration.get('set', '?')}); figures above on the same questions "
              "are in-sample", file=out)
        if calibration.get("cv"):
            print(f"  held out ({int(calibration['cv'].get('folds', 0))}-fold cross-validation "
                  "at calibration):", file=out)
            _print_outcomes(calibration["cv"], out, indent="  ")
    wrong = report.wrong()
    print(f"\nwrong ({len(wrong)}):", file=out)
    for r in wrong:
        got = ", ".join(f"{i} {c:.2f}" for i, c in zip(r.ids[:3], r.confidences[:3],
                                                         strict=False))
        print(f"  {r.case.q}\n    expected {r.case.expect} {r.case.ids}; got {r.outcome}: "
              f"{got}   ({r.case.where})", file=out)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .evaluation import (
        CV_FOLDS,
        calibrate,
        min_answer_precision,
        min_none_precision,
        wrong_answer_cost,
    )
    from .index import CALIBRATION_FILE, update_manifest

    cases = _eval_cases(args)
    target = args.min_precision if args.min_precision is not None else min_answer_precision()
    none_floor = (args.min_none_precision if args.min_none_precision is not None
                  else min_none_precision())
    cost = (args.wrong_answer_cost if args.wrong_answer_cost is not None
            else wrong_answer_cost())
    folds = CV_FOLDS if args.folds is None else args.folds
    with _stdout_to_stderr() as out:
        retriever = open_retriever(args)
        started = time.perf_counter()
        result = calibrate(retriever, cases, min_precision=target, folds=folds,
                           min_none=none_floor, wrong_cost=cost)
    print(f"calibrated on {len(cases)} questions in {time.perf_counter() - started:.1f}s: "
          f"most right answers (a wrong one costs {cost:g}) with answer precision >= "
          f"{target:.2f} and none precision >= {none_floor:.2f}; best settings:", file=out)
    print("  coverage answer.P resolved  MRR    none.P none.R  fusion", file=out)
    for row in result["table"][:10]:
        f = row["fusion"]
        print(f"  {row['coverage']:.3f}    {row['answer.precision']:.3f}    "
              f"{row['resolved']:.3f}    {row['mrr']:.3f}  {row['none.precision']:.3f}  "
              f"{row['none.recall']:.3f}   {f['method']} words {f['w_words']:.1f} chars "
              f"{f['w_chars']:.1f} dense {f['w_dense']:.1f} body {f['answer_row_weight']} "
              f"support {f.get('support', 0)}", file=out)
    if result["elsewhere"]:
        print(f"{result['elsewhere']} questions open with a place outside Beijing (dict/places): "
              "they get none whatever the thresholds and were not fitted on", file=out)
    print(f"chosen fusion: {json.dumps(result['fusion'], ensure_ascii=False)}", file=out)
    print(f"chosen thresholds: {json.dumps(result['thresholds'])}", file=out)
    print("in-sample (the questions it was chosen on):", file=out)
    print("  " + "   ".join(f"{k} {v:.3f}" for k, v in result["summary"].items()), file=out)
    if result["cv"]:
        print(f"held out ({folds}-fold cross-validation, folds grouped by entry; what to expect "
              "on new questions):", file=out)
        _print_outcomes(result["cv"], out, indent="  ")
    conf = _settings(args)
    from .settings import REPO_ROOT

    eval_path = Path(conf["eval"]).resolve()
    record = {**result["summary"], "min_precision": target, "min_none_precision": none_floor,
              "wrong_answer_cost": cost,
              "cases": result["cases"],
              "set": (eval_path.relative_to(REPO_ROOT).as_posix()
                      if eval_path.is_relative_to(REPO_ROOT) else str(eval_path)),
              "cv": result["cv"],
              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not args.dry_run:
        update_manifest(conf["index"], fusion=result["fusion"], thresholds=result["thresholds"],
                        calibration=record)
        print(f"saved into {conf['index']} (manifest.json)", file=out)
    if args.save_default:
        model = retriever.data.manifest["model"]["name"]
        try:
            saved = json.loads(CALIBRATION_FILE.read_text("utf-8"))
        except (OSError, ValueError):
            saved = {}
        saved[model] = {"fusion": result["fusion"], "thresholds": result["thresholds"],
                        "calibration": record}
        CALIBRATION_FILE.write_text(json.dumps(saved, ensure_ascii=False, indent=2) + "\n",
                                    "utf-8")
        print(f"saved as the default for {model} in {CALIBRATION_FILE}", file=out)
    return 0


def _report_data(args: argparse.Namespace) -> tuple[Any, str]:
    import os

    from .report import Dataset, load_jsonl, load_redis

    data, sources = Dataset(), []
    for path in args.jsonl:
        try:
            data.extend(load_jsonl(path))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {path}: {exc}") from exc
        sources.append(path.name)
    if args.redis or not args.jsonl:
        import redis

        url = args.redis_url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        prefix = args.prefix or os.environ.get("REDIS_KEY_PREFIX") or "minsheng"
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                      socket_connect_timeout=5)
        try:
            data.extend(load_redis(client, prefix))
        except (redis.RedisError, OSError) as exc:
            raise CliError(f"cannot read Redis ({exc}); or give an export with --jsonl", 2
                           ) from exc
        finally:
            client.close()
        sources.append(f"Redis {prefix}:*")
    return data, "，".join(sources)


def cmd_report(args: argparse.Namespace) -> int:
    from .loader import load_kb
    from .report import DEFAULT_THRESHOLD, EntryInfo, build_report, dump_jsonl, since
    from .report_html import render_html

    data, source = _report_data(args)
    if args.export:
        args.export.write_text("".join(line + "\n" for line in dump_jsonl(data)), "utf-8")
    now = int(args.now if args.now is not None else time.time())
    start = now - args.days * 86400 if args.days > 0 else 0
    data = since(data, start, now + 1)
    conf = _settings(args)
    kb = load_kb(conf["kb"])
    entries = {item.id: EntryInfo(item.question or item.title, item.area) for item in kb.items}
    analyzer, embedder = None, None

    def embed(texts: list[str]) -> Any:
        nonlocal embedder
        if embedder is None:
            from .embedder import make_embedder

            embedder = make_embedder(str(conf["model"]))
        return embedder.encode(texts)

    def normalize(text: str) -> str:
        nonlocal analyzer
        if analyzer is None:
            from .tokenizer import TextAnalyzer

            analyzer = TextAnalyzer(conf["dict"])
        return analyzer.normalize(text)

    with _stdout_to_stderr() as out:
        report = build_report(
            data, entries, embed, normalize=normalize, top=args.top, start=start, end=now,
            threshold=args.threshold if args.threshold is not None else DEFAULT_THRESHOLD)
        page = render_html(report, source=source, generated=now)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, "utf-8")
    print(f"wrote {args.out}: {report.total} questions, {report.unanswered_total} unanswered "
          f"in {len(report.clusters)} clusters, {len(report.disliked)} answers with thumbs down, "
          f"{sum(report.handoffs.values())} handoffs", file=out)
    return 0


COMMANDS = {"import": cmd_import, "lint": cmd_lint, "build": cmd_build, "search": cmd_search,
            "eval": cmd_eval, "calibrate": cmd_calibrate, "report": cmd_report}


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
