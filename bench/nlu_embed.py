"""CPU per message of the NLU's embedding featurizer (nlu/encoder.py), on the NLU examples.

Run it with the Rasa environment's Python (the one that serves the featurizer):

    .venv/rasa/bin/python bench/nlu_embed.py [--messages 400] [--threads 1] [--layers N]

Prints milliseconds per message (one at a time, as Rasa parses them) by message length, and the
throughput of the batched path that training uses. ``--threads`` caps BLAS threads the way a
busy server effectively has them.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def examples(limit: int) -> list[str]:
    """Up to ``limit`` intent examples of bot/data/nlu, spread evenly, annotations removed."""
    import yaml

    texts = []
    for path in sorted((ROOT / "bot/data/nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" in block and isinstance(block.get("examples"), str):
                texts += [_ANNOTATION.sub(r"\1", line.strip()[2:])
                          for line in block["examples"].splitlines()
                          if line.strip().startswith("- ")]
    step = max(1, len(texts) // limit)
    return texts[::step][:limit]


def configured_layers() -> int | None:
    """The featurizer's ``layers`` in config.yml (None: all of them)."""
    import yaml

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config.get("pipeline", []):
        if component.get("name", "").endswith("SentenceEmbeddingFeaturizer"):
            return component.get("layers")
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layers", type=int, default=None,
                        help="encoder layers to run (default: what config.yml sets, else all)")
    args = parser.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(ROOT))
    from nlu.encoder import BertEncoder

    started = time.perf_counter()
    layers = args.layers if args.layers is not None else configured_layers()
    encoder = BertEncoder.load(layers=layers)
    print(f"model {encoder.identity} loaded in {time.perf_counter() - started:.2f} s")
    texts = examples(args.messages)
    encoder.encode(texts[:8])  # warm up
    timings: list[tuple[int, float]] = []
    for text in texts:
        started = time.process_time()
        encoder.encode([text])
        timings.append((len(text), (time.process_time() - started) * 1000))
    all_ms = [ms for _, ms in timings]
    p95 = sorted(all_ms)[int(0.95 * len(all_ms))]
    print(f"{len(texts)} messages one at a time: CPU per message "
          f"p50 {statistics.median(all_ms):.2f} ms, mean {statistics.mean(all_ms):.2f} ms, "
          f"p95 {p95:.2f} ms")
    for low, high in ((0, 5), (5, 10), (10, 20), (20, 1000)):
        bucket = [ms for length, ms in timings if low <= length < high]
        if bucket:
            print(f"  {low:>2}-{high:<4} characters: {len(bucket):>4} messages, "
                  f"mean {statistics.mean(bucket):.2f} ms")
    started = time.perf_counter()
    encoder.encode(texts)
    elapsed = time.perf_counter() - started
    print(f"batched (training): {len(texts) / elapsed:.0f} messages/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
