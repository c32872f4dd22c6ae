from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from _kb_support import DICT_DIR, GOOD_KB

from knowledge.citation import DEFAULT_SOURCE_TEMPLATE, format_source_line, hit_source_line
from knowledge.embedder import HashEmbedder
from knowledge.index import build, load_index
from knowledge.model import Source
from knowledge.retriever import Retriever, decide
from knowledge.tokenizer import TextAnalyzer

pytestmark = pytest.mark.unit
TODAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    index = tmp_path_factory.mktemp("index")
    build(GOOD_KB, index, HashEmbedder(64), progress=False, dict_dir=DICT_DIR)
    return Retriever(load_index(index), HashEmbedder(64), TextAnalyzer(DICT_DIR))


def test_synonyms_and_each_entry_once(retriever: Retriever) -> None:
    result = retriever.search("老年卡咋办", top_k=5, today=TODAY)
    ids = [h.id for h in result.hits]
    assert ids[0] == "yl-zhucanka-apply"
    assert len(ids) == len(set(ids)) == 5  # rows aggregated: each entry once
    hit = result.hits[0]
    assert hit.matched == "养老助残卡咋办"  # 老年卡 -> canonical 养老助残卡
    assert hit.area == "养老" and hit.kind == "faq"
    assert hit.source.issuer == "北京市民政局" and hit.effective == date(2023, 1, 1)
    assert hit.scores["words"] > 0.9 and hit.scores["chars"] > 0.9
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_expired_items_are_filtered_at_query_time(tmp_path: Path) -> None:
    area = tmp_path / "kb" / "养老"
    area.mkdir(parents=True)
    expires = TODAY + timedelta(days=1)
    (area / "a.yml").write_text(
        "defaults: {source: {issuer: 北京市民政局}, effective: 2023-01-01, reviewed: 2026-01-01}\n"
        "entries:\n"
        f"  - id: yl-soon\n    question: 重阳节敬老活动怎么报名\n    answer: 关注社区通知。\n"
        f"    expires: {expires.isoformat()}\n"
        "  - id: yl-other\n    question: 养老驿站在哪里\n    answer: 问社区。\n", "utf-8")
    build(tmp_path / "kb", tmp_path / "index", HashEmbedder(64), progress=False)
    ret = Retriever(load_index(tmp_path / "index"), HashEmbedder(64), TextAnalyzer(None))
    query = "重阳节敬老活动怎么报名"
    assert ret.search(query, today=TODAY).hits[0].id == "yl-soon"
    assert ret.search(query, today=expires).hits[0].id == "yl-soon"  # last valid day
    later = ret.search(query, today=expires + timedelta(days=1))
    assert "yl-soon" not in [h.id for h in later.hits]


def test_area_and_district_filters(retriever: Retriever) -> None:
    query = "政务服务中心在哪里"
    everywhere = [h.id for h in retriever.search(query, top_k=5, today=TODAY).hits]
    assert {"zw-zhengwu-center", "zw-zhengwu-center-other"} <= set(everywhere)
    here = [h.id for h in retriever.search(query, district="示范区", top_k=5, today=TODAY).hits]
    assert "zw-zhengwu-center" in here and "zw-zhengwu-center-other" not in here
    medical = retriever.search("在哪里办", area="医疗", top_k=5, today=TODAY)
    assert medical.hits and {h.area for h in medical.hits} == {"医疗"}


def test_three_outcomes(retriever: Retriever) -> None:
    limits = {"none": 0.4, "margin": 0.05, "sure": 0.95, "short": 0}
    answer = retriever.search("身份证丢了怎么补办", today=TODAY, thresholds=limits)
    assert answer.outcome == "answer" and answer.best.id == "zw-idcard-reissue"
    assert answer.suggestions == []
    none = retriever.search("帮我写一篇关于春天的作文", today=TODAY, thresholds=limits)
    assert none.outcome == "none"
    vague = retriever.search("公积金", today=TODAY, thresholds={**limits, "short": 3})
    assert vague.outcome == "clarify"
    assert set(vague.suggestions[:2]) == {"住房公积金怎么提取？", "怎么查公积金余额？"}


def test_decide_rules() -> None:
    limits = {"none": 0.5, "margin": 0.05, "sure": 0.9, "short": 2}
    assert decide([], limits) == ("none", 0)
    assert decide([0.49, 0.48], limits) == ("none", 0)
    assert decide([0.8, 0.6], limits) == ("answer", 1)
    assert decide([0.8, 0.77, 0.76], limits) == ("clarify", 3)
    assert decide([0.95, 0.94], limits) == ("answer", 1)  # sure beats close
    assert decide([0.8, 0.6], limits, query_chars=2) == ("clarify", 2)
    assert decide([0.8, 0.3], limits, query_chars=2) == ("answer", 1)


def test_source_line_from_template() -> None:
    source = Source(issuer="北京市民政局", title="北京市老年人养老服务补贴津贴管理实施办法",
                    number="京民养老发〔2019〕151号")
    assert format_source_line(DEFAULT_SOURCE_TEMPLATE, source, date(2020, 1, 1)) == (
        "依据：《北京市老年人养老服务补贴津贴管理实施办法》（北京市民政局发布，"
        "京民养老发〔2019〕151号，2020年1月1日起施行）")
    plain = Source(issuer="北京市公安局")
    assert format_source_line(DEFAULT_SOURCE_TEMPLATE, plain, None) == "依据：（北京市公安局发布）"
    assert format_source_line("来源：{issuer}[（{effective}起）]", plain, date(2023, 3, 5)) == (
        "来源：北京市公安局（2023年3月5日起）")
    assert format_source_line("{issuer}", Source(), None) == ""


def test_hit_source_line(retriever: Retriever) -> None:
    hit = retriever.search("高龄津贴怎么申领", today=TODAY).hits[0]
    assert hit.id.startswith("yl-policy-gaoling#") and hit.kind == "passage"
    assert hit_source_line(hit).startswith("依据：《北京市老年人养老服务补贴津贴管理实施办法》")
