"""bench/load.py without a server: the mix, the summary and the chart from made-up steps."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def load_module():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def step(load, concurrency: int, rate: float, p95: float, errors: int = 0):
    return load.StepResult(concurrency=concurrency, seconds=30, turns=int(rate * 30),
                           turns_per_s=rate, p50_ms=p95 / 3, p95_ms=p95, p99_ms=p95 * 1.5,
                           errors=errors, cpu={"machine_cpu_pct": 50, "stack_cpu_pct": 40})


def test_conversations_and_the_mix():
    load = load_module()
    rng = random.Random(1)
    assert load.conversation("form", rng, "tag")[-1] == "确认"
    assert "tag" in load.conversation("form", rng, "tag")[0]
    assert len(load.conversation("knowledge", rng, "t")) == 2
    assert load.parse_mix("knowledge=1,form=2") == {"knowledge": 1.0, "form": 2.0}
    with pytest.raises(Exception, match="unknown kind"):
        load.parse_mix("gossip=1")
    assert load.percentile([1, 2, 3, 4], 50) == 2


def test_summary_and_chart(tmp_path):
    load = load_module()
    results = {
        "single": [step(load, 5, 20, 300), step(load, 10, 31, 480), step(load, 20, 33, 900, 2)],
        "cluster": [step(load, 5, 22, 250), step(load, 10, 40, 400), step(load, 20, 55, 600)],
    }
    lines = load.summary(results, 500)
    assert lines[0].startswith("single: peak 31.0 turns/s")
    assert "31.0 turns/s with p95 <= 500 ms" in lines[0]
    assert lines[-1].startswith("ratio cluster / single: 1.77x")
    chart = tmp_path / "load.png"
    load.write_chart(results, chart, "test")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
