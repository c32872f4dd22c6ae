"""Real-model tests: the default embedding model (m3e-small) or MINSHENG_EMBEDDING_MODEL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from _kb_support import DICT_DIR, EVAL_SET, GOOD_KB
from test_kb_cli import run_cli

from knowledge.evaluation import calibrate, evaluate, load_eval
from knowledge.index import build, load_index
from knowledge.retriever import Retriever
from knowledge.settings import Settings
from knowledge.tokenizer import TextAnalyzer

pytestmark = pytest.mark.integration
TODAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def real_retriever(real_embedder, tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    index = tmp_path_factory.mktemp("real-index")
    report = build(GOOD_KB, index, real_embedder, progress=False, dict_dir=DICT_DIR)
    assert report.published and report.full_rebuild
    return Retriever(load_index(index), real_embedder, TextAnalyzer(DICT_DIR))


def test_model_is_normalised_float32(real_embedder) -> None:
    vectors = real_embedder.encode(["养老助残卡怎么办理", "今天天气怎么样"])
    assert vectors.dtype.name == "float32" and vectors.shape == (2, real_embedder.dimension)
    assert abs(float((vectors[0] ** 2).sum()) - 1) < 1e-4


@pytest.mark.parametrize(("query", "expected"), [
    ("我奶奶七十了 老年卡在哪申请", "yl-zhucanka-apply"),  # synonym + colloquial
    ("我要回老家住院 北京医保怎么备案", "yb-yidi"),
    ("小孩打预防针去哪", "yl-yimiao"),  # no shared words with 疫苗: dense evidence
    ("跟团旅游被强制购物了去哪投诉", "wl-tour-complaint"),
    ("老人去世了高龄津贴还发吗", "yl-policy-gaoling#3"),  # a policy passage
])
def test_hybrid_ranking_sanity(real_retriever: Retriever, query: str, expected: str) -> None:
    hits = real_retriever.search(query, top_k=3, today=TODAY).hits
    assert expected in [h.id for h in hits[:3]]


def test_hybrid_beats_or_matches_each_channel(real_retriever: Retriever) -> None:
    cases = load_eval(EVAL_SET)
    mrr = {}
    for name, fusion in {"lexical": {"w_words": 0.5, "w_chars": 0.5, "w_dense": 0.0},
                         "dense": {"w_words": 0.0, "w_chars": 0.0, "w_dense": 1.0},
                         "hybrid": {"w_words": 0.2, "w_chars": 0.3, "w_dense": 0.5}}.items():
        mrr[name] = evaluate(real_retriever, cases, fusion=fusion).metrics["mrr"]
    assert mrr["hybrid"] >= max(mrr["lexical"], mrr["dense"]) - 1e-9
    assert mrr["hybrid"] >= 0.95


def test_calibrated_three_outcomes(real_retriever: Retriever) -> None:
    cases = load_eval(EVAL_SET)
    result = calibrate(real_retriever, cases)
    report = evaluate(real_retriever, cases, thresholds=result["thresholds"],
                      fusion=result["fusion"])
    m = report.metrics
    assert m["hit@1"] >= 0.9 and m["hit@3"] >= 0.97
    assert m["none.precision"] >= 0.9 and m["none.recall"] >= 0.8
    assert m["answer.precision"] >= 0.85 and m["accuracy"] >= 0.85
    outcomes = {r.case.q: r.outcome for r in report.results}
    assert outcomes["身份证弄丢了咋补"] == "answer"
    assert outcomes["推荐一只能涨的股票"] == "none"
    assert outcomes["重阳节老人活动在哪报名"] == "none"  # its entry has expired
    assert "clarify" in outcomes.values()


def test_search_json_with_the_real_model(tmp_path: Path) -> None:
    proc = run_cli("search", "--kb", str(GOOD_KB), "--dict", str(DICT_DIR), "--index",
                   str(tmp_path / "i"), "--json", "医保码怎么在微信上开通", "红烧肉怎么做好吃",
                   model=Settings.from_env().model_path())
    assert proc.returncode == 0, proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["results"][0]["id"] == "yb-dianzi"
    assert first["outcome"] == "answer" and second["outcome"] == "none"
