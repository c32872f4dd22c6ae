from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from knowledge.embedder import CountingEmbedder, HashEmbedder
from knowledge.service import KnowledgeService, KnowledgeUnavailable

pytestmark = pytest.mark.unit


def _wait_for(predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout}s")


@pytest.fixture
def service(kb_copy: Path, dict_copy: Path, tmp_path: Path):
    svc = KnowledgeService(kb_dir=kb_copy, index_dir=tmp_path / "index", dict_dir=dict_copy,
                           embedder=HashEmbedder(64), poll_interval=0.2)
    yield svc
    svc.close()


async def test_async_search_builds_on_first_use(service: KnowledgeService) -> None:
    assert not service.loaded
    results = await asyncio.gather(service.search("身份证丢了怎么补办"),
                                   service.search("老年卡咋办"))
    assert [r.hits[0].id for r in results] == ["zw-idcard-reissue", "yl-zhucanka-apply"]
    assert service.loaded and service.status()["items"] == 36


def test_edit_is_live_within_five_seconds(service: KnowledgeService, kb_copy: Path) -> None:
    service.load()
    query = "社区健身器材坏了找谁？"
    assert service.search_sync(query).hits[0].answer.startswith("社区健身器材损坏")
    path = kb_copy / "文旅" / "体育.yml"
    path.write_text(path.read_text("utf-8").replace("社区健身器材损坏可以向", "健身器材坏了请向"),
                    "utf-8")
    took = _wait_for(lambda: service.search_sync(query).hits[0].answer.startswith("健身器材坏了"),
                     5.0)
    assert took < 5.0 and service.reloads == 1


def test_broken_file_keeps_the_old_index_serving(service: KnowledgeService, kb_copy: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    service.load()
    old_build = service.build_dir
    (kb_copy / "医疗" / "医保.yml").write_text("entries:\n  - id: [broken\n", "utf-8")
    _wait_for(lambda: service.last_report is not None and not service.last_report.published
              and service.last_issues, 5.0)
    assert service.build_dir == old_build
    assert service.search_sync("医保怎么报销").hits[0].id == "yb-baoxiao"  # still served
    assert "医疗/医保.yml:3: error: malformed YAML" in caplog.text
    assert any("医疗/医保.yml:3" in e for e in service.status()["errors"])
    # fixing the file publishes again
    (kb_copy / "医疗" / "医保.yml").unlink()
    _wait_for(lambda: service.build_dir != old_build, 5.0)
    assert "yb-baoxiao" not in [h.id for h in service.search_sync("医保怎么报销").hits]


def test_no_usable_index_raises(tmp_path: Path) -> None:
    kb = tmp_path / "kb" / "医疗"
    kb.mkdir(parents=True)
    (kb / "x.yml").write_text("entries: [", "utf-8")
    svc = KnowledgeService(kb_dir=tmp_path / "kb", index_dir=tmp_path / "index",
                           dict_dir=tmp_path / "dict", embedder=HashEmbedder(64), watch=False)
    with pytest.raises(KnowledgeUnavailable, match=r"x\.yml:1"):
        svc.search_sync("医保")


def test_construction_loads_nothing(tmp_path: Path) -> None:
    svc = KnowledgeService(kb_dir=tmp_path / "missing", index_dir=tmp_path / "index")
    assert not svc.loaded and svc._embedder is None and not (tmp_path / "index").exists()


def test_reload_re_embeds_only_the_edited_rows_and_reuses_the_rest(kb_copy: Path,
                                                                   dict_copy: Path,
                                                                   tmp_path: Path) -> None:
    emb = CountingEmbedder(HashEmbedder(64))
    svc = KnowledgeService(kb_dir=kb_copy, index_dir=tmp_path / "index", dict_dir=dict_copy,
                           embedder=emb, poll_interval=0.1)
    try:
        svc.load()
        before = {seg.file: seg for seg in svc._retriever.data.segments}
        emb.texts.clear()
        path = kb_copy / "文旅" / "体育.yml"
        path.write_text(path.read_text("utf-8").replace("订个篮球场", "想订一个篮球场地"),
                        "utf-8")
        _wait_for(lambda: svc.reloads == 1, 5.0)
        assert emb.texts == ["想订一个篮球场地"]  # the only new text; nothing else embedded
        report = svc.last_report
        assert report.published and report.new_segments == 1 and report.embedded == 1
        after = svc._retriever.data.segments
        assert [seg.file for seg in after] == list(before)
        assert all(seg is before[seg.file] for seg in after if seg.file != "文旅/体育.yml")
        assert svc.search_sync("想订一个篮球场地").hits[0].matched == "想订一个篮球场地"
        # a broken file: nothing is built or embedded, the last good index keeps serving
        serving = svc._retriever
        emb.texts.clear()
        (kb_copy / "医疗" / "医保.yml").write_text("entries:\n  - id: [broken\n", "utf-8")
        _wait_for(lambda: svc.last_report is not None and not svc.last_report.published, 5.0)
        assert svc._retriever is serving and emb.texts == [] and svc.reloads == 1
        assert svc.search_sync("医保怎么报销").hits[0].id == "yb-baoxiao"
    finally:
        svc.close()


def test_a_build_published_by_another_process_is_served_reading_only_new_segments(
        kb_copy: Path, dict_copy: Path, tmp_path: Path) -> None:
    from knowledge.index import build

    svc = KnowledgeService(kb_dir=kb_copy, index_dir=tmp_path / "index", dict_dir=dict_copy,
                           embedder=HashEmbedder(64), watch=False)
    svc.load()
    before = {seg.file: seg for seg in svc._retriever.data.segments}
    path = kb_copy / "文旅" / "体育.yml"
    path.write_text(path.read_text("utf-8").replace("订个篮球场", "想订一个篮球场地"), "utf-8")
    report = build(kb_copy, tmp_path / "index", HashEmbedder(64), progress=False,
                   dict_dir=dict_copy)  # as `scripts/kb build` would, in another process
    assert report.published
    svc._swap_to_published()
    assert svc.build_dir == report.build_dir and svc.reloads == 1
    after = svc._retriever.data.segments
    assert all(seg is before[seg.file] for seg in after if seg.file != "文旅/体育.yml")
    assert svc.search_sync("想订一个篮球场地").hits[0].matched == "想订一个篮球场地"
