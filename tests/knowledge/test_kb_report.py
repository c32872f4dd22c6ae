"""The content-staff report: aggregation and clustering (pure, deterministic embedder), and
``scripts/kb report`` end to end on a Redis prefix seeded with events and on a JSONL export."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from _kb_support import DICT_DIR, GOOD_KB, REPO

from knowledge.embedder import HashEmbedder
from knowledge.report import (
    Dataset,
    EntryInfo,
    build_report,
    cluster_unanswered,
    cluster_vectors,
    disliked_answers,
    load_jsonl,
    since,
    stream_key,
    top_questions,
)
from knowledge.report_html import render_html

NOW = 1_750_000_000
EMBED = HashEmbedder(64).encode
ENTRIES = {"yl-zhucanka-apply": EntryInfo("养老助残卡怎么办理？", "养老"),
           "yl-zhucanka-lost": EntryInfo("养老助残卡丢了怎么办？", "养老")}


def q(text: str, outcome: str = "answer", kb_id: str = "", area: str = "", channel: str = "rest",
      resident: str = "r1", ts: int = NOW) -> dict[str, str]:
    return {"q": text, "outcome": outcome, "kb_id": kb_id, "area": area, "channel": channel,
            "resident": resident, "ts": str(ts)}


MARS = ["火星移民政策是什么", "火星移民政策是什么", "火星移民的政策", "火星移民政策有哪些"]
PARKING = ["小区停车位怎么收费", "小区停车位收费标准"]


# --- pure ------------------------------------------------------------------------------------


@pytest.mark.unit
def test_greedy_clustering_by_cosine():
    vectors = EMBED(["火星移民政策", "火星移民的政策", "小区停车位收费", "小区停车收费"])
    assert cluster_vectors(vectors, [1, 1, 1, 1], 0.5) == [[0, 1], [2, 3]]
    assert cluster_vectors(vectors, [1, 1, 1, 1], 1.01) == [[0], [1], [2], [3]]
    assert cluster_vectors(vectors[:0], [], 0.5) == []


@pytest.mark.unit
def test_unanswered_questions_cluster_by_similarity_most_asked_first():
    entries = ([q(t, "none", channel="webchat") for t in MARS]
               + [q(t, "none", area="政务服务", channel="wechat", ts=NOW + 5) for t in PARKING]
               + [q("今天天气怎么样", "none"), q("  ", "none")])
    clusters = cluster_unanswered(entries, EMBED, threshold=0.5)
    assert [c.total for c in clusters] == [4, 2, 1]
    mars, parking, weather = clusters
    assert mars.representative == "火星移民政策是什么"
    assert mars.texts[0] == ("火星移民政策是什么", 2)
    assert {t for t, _ in mars.texts} == set(MARS)
    assert parking.channels == {"wechat": 2} and parking.areas == {"政务服务": 2}
    assert parking.last_seen == NOW + 5 and mars.areas == {"未分类": 4}
    assert weather.representative == "今天天气怎么样"
    # A normaliser makes wordings count as one.
    same = cluster_unanswered([q("老年卡咋办", "none"), q("老年卡 咋办", "none")], EMBED,
                              normalize=lambda t: t.replace(" ", ""), threshold=0.99)
    assert len(same) == 1 and same[0].total == 2 and len(same[0].texts) == 2


@pytest.mark.unit
def test_top_questions_count_answers_per_entry_with_residents_wordings():
    questions = ([q("老年卡咋办", kb_id="yl-zhucanka-apply", area="养老")] * 3
                 + [q("", kb_id="yl-zhucanka-apply")]  # a picked suggestion
                 + [q("养老卡丢了", kb_id="yl-zhucanka-lost")]
                 + [q("这是什么", "clarify", kb_id="yl-zhucanka-lost")]
                 + [q("老条目", kb_id="gone-1", area="医疗")])
    top = top_questions(questions, ENTRIES, top=2)
    assert [(t.kb_id, t.count) for t in top] == [("yl-zhucanka-apply", 4), ("gone-1", 1)]
    assert top[0].question == "养老助残卡怎么办理？" and top[0].examples == ["老年卡咋办"]
    assert (top[1].question, top[1].area) == ("gone-1", "医疗")


@pytest.mark.unit
def test_disliked_answers_count_changed_votes_once_and_show_what_was_asked():
    questions = [q("老年卡丢了咋补", kb_id="yl-zhucanka-lost", resident="r1", ts=NOW - 10),
                 q("后来的问题", kb_id="yl-zhucanka-lost", resident="r1", ts=NOW + 100)]
    feedback = [
        {"kb_id": "yl-zhucanka-lost", "rating": "up", "resident": "r1", "ts": str(NOW - 5)},
        {"kb_id": "yl-zhucanka-lost", "rating": "down", "replaces": "up", "resident": "r1",
         "ts": str(NOW)},
        {"kb_id": "yl-zhucanka-lost", "rating": "down", "resident": "r2", "ts": str(NOW)},
        {"kb_id": "yl-zhucanka-apply", "rating": "up", "resident": "r3", "ts": str(NOW)},
        {"kb_id": "", "rating": "down", "resident": "r4", "ts": str(NOW)},
        {"kb_id": "x", "rating": "meh", "resident": "r4", "ts": str(NOW)},
    ]
    disliked, votes = disliked_answers(feedback, questions, ENTRIES)
    assert votes == {"up": 1, "down": 3}
    assert [(d.kb_id, d.down, d.up) for d in disliked] == [("yl-zhucanka-lost", 2, 0),
                                                          ("", 1, 0)]
    assert disliked[0].question == "养老助残卡丢了怎么办？"
    assert disliked[0].asked == ["老年卡丢了咋补"]


@pytest.mark.unit
def test_volumes_per_area_channel_day_and_the_period():
    data = Dataset(
        questions=[q("a", area="养老", channel="webchat", ts=NOW),
                   q("b", "none", channel="wechat", ts=NOW + 86400),
                   q("c", "clarify", area="养老", channel="webchat", ts=NOW - 40 * 86400)],
        handoff=[{"event": "queued", "channel": "webchat", "reason": "request", "ts": str(NOW)},
                 {"event": "taken", "channel": "webchat", "reason": "request", "ts": str(NOW)}],
    )
    recent = since(data, NOW - 30 * 86400)
    report = build_report(recent, ENTRIES, EMBED, start=NOW - 30 * 86400, end=NOW + 86400)
    assert report.total == 2 and report.outcomes == {"answer": 1, "none": 1}
    assert report.by_area == {"养老": 1, "未分类": 1}
    assert report.by_channel == {"webchat": 1, "wechat": 1}
    assert list(report.by_day) == ["2025-06-15", "2025-06-16"]
    assert report.handoffs == {("webchat", "request"): 1}
    assert not report.empty


@pytest.mark.unit
def test_an_empty_dataset_still_makes_a_page():
    report = build_report(Dataset(), {}, EMBED)
    assert report.empty and report.clusters == [] and report.top == []
    page = render_html(report, generated=NOW)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    assert "这段时间没有记录到提问、反馈或转人工。" in page and "<svg" not in page


@pytest.mark.unit
def test_resident_text_is_escaped_everywhere():
    data = Dataset(questions=[q("<script>alert(1)</script>", "none"),
                              q("<b>x</b>", kb_id="yl-zhucanka-apply")],
                   unanswered=[q("<script>alert(1)</script>", "none")])
    page = render_html(build_report(data, ENTRIES, EMBED), generated=NOW)
    assert "<script" not in page and "<b>x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.unit
def test_jsonl_lines_must_name_their_stream(tmp_path: Path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"stream": "unanswered", "q": "火星", "ts": 5}\n\n', "utf-8")
    assert load_jsonl(good).unanswered == [{"q": "火星", "ts": "5"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "火星"}\n', "utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        load_jsonl(bad)


# --- scripts/kb report on a seeded Redis prefix -------------------------------------------------


@pytest.fixture
def seeded(redis_url: str) -> Iterator[str]:
    prefix = "test" + secrets.token_hex(4)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    now = int(time.time())
    rows = {
        "questions": (
            [q("老年卡咋办", kb_id="yl-zhucanka-apply", area="养老", channel="webchat",
               resident=f"r{i}", ts=now - i * 3600) for i in range(5)]
            + [q("养老卡丢了", kb_id="yl-zhucanka-lost", area="养老", channel="wechat",
                 resident="r9", ts=now - 60)]
            + [q(t, "none", channel="rest", ts=now - 30) for t in MARS]
            + [q("很久以前的问题", kb_id="yl-zhucanka-lost", ts=now - 90 * 86400)]),
        "unanswered": [q(t, "none", channel="rest", ts=now - 30) for t in MARS]
                      + [q("<script>alert(1)</script>", "none", ts=now - 20)],
        "feedback": [{"resident": "r9", "message": "abcdefgh12", "kb_id": "yl-zhucanka-lost",
                      "rating": "down", "channel": "webchat", "ts": str(now - 10)}],
        "handoff": [{"event": "queued", "channel": "wechat", "reason": "repeated_failure",
                     "area": "", "ts": str(now - 5)}],
    }
    for stream, entries in rows.items():
        for entry in entries:
            fields = {k: v for k, v in entry.items()
                      if k != "outcome" or stream == "questions"}
            client.xadd(stream_key(prefix, stream), fields)
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def report_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINSHENG_EMBEDDING_MODEL": "hash", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "knowledge.cli", "report", "--kb", str(GOOD_KB), "--dict",
         str(DICT_DIR), "--threshold", "0.5", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def text_of(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page)


@pytest.mark.integration
def test_the_report_from_redis(tmp_path: Path, redis_url: str, seeded: str):
    out, export = tmp_path / "report.html", tmp_path / "export.jsonl"
    proc = report_cli("--out", str(out), "--redis-url", redis_url, "--prefix", seeded,
                      "--export", str(export))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out}: 10 questions, 5 unanswered in 2 clusters")
    page = out.read_text("utf-8")
    text = text_of(page)
    assert page.count("<svg") == 6 and "<script" not in page and "http://" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Top questions: the entry's standard question from the knowledge files, and how it was asked.
    assert "养老助残卡怎么办理？" in text and "老年卡咋办" in text
    # Unanswered, clustered: one cluster of the four Mars wordings.
    assert re.search(r"火星移民政策是什么\s+4\s+3", text), text
    # Negative feedback, with what the resident had asked.
    assert "养老助残卡丢了怎么办？" in text and "养老卡丢了" in text
    # Volumes per area and channel, handoffs; the 90-day-old question is outside the period.
    for label in ("各领域提问量", "各渠道提问量", "网页聊天", "微信公众号", "连续未答出"):
        assert label in page
    assert "很久以前的问题" not in page
    # The export reads back into the same report.
    again = tmp_path / "again.html"
    proc = report_cli("--out", str(again), "--jsonl", str(export))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(":", 1)[1] == (
        " 10 questions, 5 unanswered in 2 clusters, 1 answers with thumbs down, 1 handoffs\n")
    lines = [json.loads(line) for line in export.read_text("utf-8").splitlines()]
    assert {line["stream"] for line in lines} == {"questions", "unanswered", "feedback",
                                                   "handoff"}


@pytest.mark.integration
def test_an_empty_prefix_and_an_unreachable_redis(tmp_path: Path, redis_url: str):
    out = tmp_path / "empty.html"
    proc = report_cli("--out", str(out), "--redis-url", redis_url, "--prefix",
                      "test" + secrets.token_hex(4), "--days", "0")
    assert proc.returncode == 0, proc.stderr
    assert "这段时间没有记录到提问、反馈或转人工。" in out.read_text("utf-8")
    proc = report_cli("--out", str(tmp_path / "x.html"), "--redis-url", "redis://127.0.0.1:1/0")
    assert proc.returncode == 2 and "cannot read Redis" in proc.stderr
