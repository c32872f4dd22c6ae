from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.embedder import CountingEmbedder, HashEmbedder
from knowledge.index import build, current_build, load_index, make_rows, stale_reason
from knowledge.loader import load_kb
from knowledge.tokenizer import TextAnalyzer

pytestmark = pytest.mark.unit


def test_first_build_publishes_a_complete_index_with_manifest(kb_copy: Path, dict_copy: Path,
                                                            tmp_path: Path) -> None:
    emb = CountingEmbedder(HashEmbedder(64))
    report = build(kb_copy, tmp_path / "index", emb, progress=False, dict_dir=dict_copy)
    assert report.published and report.full_rebuild
    assert report.n_items == 36 and report.embedded == len(set(emb.texts)) == len(emb.texts)
    build_dir = current_build(tmp_path / "index")
    assert build_dir == report.build_dir
    manifest = json.loads((build_dir / "manifest.json").read_text("utf-8"))
    assert manifest["model"] == {"name": "hash-64", "dimension": 64, "normalized": True,
                                 "dtype": "float32"}
    assert manifest["normalized"] is True
    assert set(manifest["files"]) == {str(p.relative_to(kb_copy).as_posix())
                                      for p in kb_copy.rglob("*.*")}
    assert manifest["items"]["yl-zhucanka-apply"]
    assert {"none", "margin", "sure"} <= set(manifest["thresholds"])
    data = load_index(tmp_path / "index")
    assert data.vectors.dtype.name == "float32"
    assert data.vectors.shape == (manifest["n_rows"], 64)
    assert abs(float((data.vectors[0] ** 2).sum()) - 1.0) < 1e-5
    assert stale_reason(kb_copy, tmp_path / "index", emb, dict_copy) is None


def test_one_changed_file_re_embeds_only_its_changed_rows(kb_copy: Path, dict_copy: Path,
                                                         tmp_path: Path) -> None:
    index = tmp_path / "index"
    build(kb_copy, index, HashEmbedder(64), progress=False, dict_dir=dict_copy)
    first = current_build(index)
    path = kb_copy / "文旅" / "体育.yml"
    path.write_text(path.read_text("utf-8").replace("订个篮球场", "想订一个篮球场地")
                    .replace("可以向社区居委会反映", "请向社区居委会反映"), "utf-8")
    emb = CountingEmbedder(HashEmbedder(64))
    assert stale_reason(kb_copy, index, emb, dict_copy) == "knowledge files changed"
    report = build(kb_copy, index, emb, progress=False, dict_dir=dict_copy)
    assert report.published and not report.full_rebuild
    assert report.changed_files == ["文旅/体育.yml"]
    assert sorted(emb.texts) == sorted(["想订一个篮球场地",
                                        "社区健身器材损坏请向社区居委会反映,也可以拨打12345报修。"])
    assert report.embedded == 2 and report.reused == report.n_rows - 2
    assert current_build(index) != first
    # reused vectors are the same as a fresh full build's
    fresh = build(kb_copy, tmp_path / "fresh", HashEmbedder(64), progress=False,
                  dict_dir=dict_copy)
    assert fresh.full_rebuild
    a, b = load_index(index), load_index(tmp_path / "fresh")
    assert [r.text for r in a.rows] == [r.text for r in b.rows]
    assert (a.vectors == b.vectors).all()
    assert a.words == b.words


def test_unchanged_files_are_a_no_op(kb_copy: Path, tmp_path: Path) -> None:
    build(kb_copy, tmp_path / "index", HashEmbedder(64), progress=False)
    emb = CountingEmbedder(HashEmbedder(64))
    report = build(kb_copy, tmp_path / "index", emb, progress=False)
    assert report.up_to_date and not report.published and emb.texts == []


@pytest.mark.parametrize("change", ["model", "dimension", "force"])
def test_manifest_changes_force_a_full_rebuild(kb_copy: Path, dict_copy: Path, tmp_path: Path,
                                               change: str) -> None:
    index = tmp_path / "index"
    build(kb_copy, index, HashEmbedder(64), progress=False, dict_dir=dict_copy)
    emb = CountingEmbedder(HashEmbedder(64))
    force = False
    if change in ("model", "dimension"):
        emb = CountingEmbedder(HashEmbedder(32))  # another model name and dimension
    else:
        force = True
    report = build(kb_copy, index, emb, progress=False, dict_dir=dict_copy, force=force)
    assert report.published and report.full_rebuild
    assert report.embedded == len(emb.texts) and report.reused == 0
    manifest = json.loads((current_build(index) / "manifest.json").read_text("utf-8"))
    assert manifest["model"]["dimension"] == emb.dimension


def test_dictionary_change_retokenises_everything_but_re_embeds_only_changed_texts(
        kb_copy: Path, dict_copy: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = build(kb_copy, index, HashEmbedder(64), progress=False, dict_dir=dict_copy)
    # a jieba word changes words, not normalised texts: every file analysed, nothing embedded
    before = load_index(index).words
    (dict_copy / "jieba" / "sport.txt").write_text("订个篮球场 1000000 n\n", "utf-8")
    emb = CountingEmbedder(HashEmbedder(64))
    assert stale_reason(kb_copy, index, emb, dict_copy) == "dictionary changed"
    report = build(kb_copy, index, emb, progress=False, dict_dir=dict_copy)
    assert report.published and report.full_rebuild
    assert report.new_segments == len(first.data.segments)
    assert emb.texts == [] and report.reused == report.n_rows
    after = load_index(index).words
    assert ["订个篮球场"] in after and ["订个篮球场"] not in before
    # a synonym rewrites some texts: only those are embedded again
    (dict_copy / "synonyms" / "sport.yml").write_text("- [篮球馆, 篮球场]\n", "utf-8")
    report = build(kb_copy, index, emb, progress=False, dict_dir=dict_copy)
    assert report.published and 0 < report.embedded == len(emb.texts) < 5
    assert all("篮球馆" in text for text in emb.texts)
    fresh = build(kb_copy, tmp_path / "fresh", HashEmbedder(64), progress=False,
                  dict_dir=dict_copy)
    assert (load_index(index).vectors == load_index(tmp_path / "fresh").vectors).all()
    assert fresh.full_rebuild


def test_broken_file_refuses_to_publish_and_keeps_last_good_index(kb_copy: Path,
                                                                  tmp_path: Path) -> None:
    index = tmp_path / "index"
    good = build(kb_copy, index, HashEmbedder(64), progress=False)
    (kb_copy / "医疗" / "医保.yml").write_text("entries:\n  - id: [broken\n", "utf-8")
    report = build(kb_copy, index, HashEmbedder(64), progress=False)
    assert not report.published and "last good index" in report.reason
    assert [str(i) for i in report.issues if i.code == "yaml"] == [
        "医疗/医保.yml:3: error: malformed YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 2)"]
    assert current_build(index) == good.build_dir
    assert len(load_index(index).items) == 36
    assert not list((index / "builds").glob(".tmp-*"))


def test_rows_cover_question_similar_and_answer_chunks(kb_copy: Path) -> None:
    kb = load_kb(kb_copy)
    rows = make_rows(kb.items, TextAnalyzer(None))
    item = next(n for n, i in enumerate(kb.items) if i.id == "yl-zhucanka-apply")
    fields = [r.field for r in rows if r.item == item]
    assert fields == ["question", "similar", "similar", "similar", "similar", "answer"]
    passage = next(n for n, i in enumerate(kb.items) if i.id == "yl-policy-gaoling#2")
    assert [r.field for r in rows if r.item == passage] == ["question", "passage"]


def test_one_file_edit_makes_one_new_segment_and_shares_the_others(kb_copy: Path,
                                                                   tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = build(kb_copy, index, HashEmbedder(64), progress=False)
    assert first.data is not None and first.new_segments == len(first.data.segments)
    path = kb_copy / "文旅" / "体育.yml"
    path.write_text(path.read_text("utf-8").replace("订个篮球场", "想订一个篮球场地"), "utf-8")
    emb = CountingEmbedder(HashEmbedder(64))
    report = build(kb_copy, index, emb, progress=False, loaded=first.data)
    assert report.published and report.new_segments == 1 and emb.texts == ["想订一个篮球场地"]
    old = {seg.file: seg for seg in first.data.segments}
    for seg in report.data.segments:
        if seg.file == "文旅/体育.yml":
            assert seg is not old[seg.file] and seg.id != old[seg.file].id
        else:
            assert seg is old[seg.file]  # not read, parsed or tokenised again
    # on disk: one new segment folder; the build's manifest lists every segment in order
    manifest = json.loads((report.build_dir / "manifest.json").read_text("utf-8"))
    assert [e["id"] for e in manifest["segments"]] == [s.id for s in report.data.segments]
    assert len(list((index / "segments").iterdir())) == len(first.data.segments) + 1
    # a fresh process reads the same build from the segments
    again = load_index(index)
    assert [r.text for r in again.rows] == [r.text for r in report.data.rows]
    assert (again.vectors == report.data.vectors).all()


def test_hnsw_graph_is_kept_across_small_edits(kb_copy: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.index as index_module
    from knowledge.retriever import Retriever
    from knowledge.tokenizer import TextAnalyzer

    monkeypatch.setattr(index_module, "HNSW_DELTA_MAX", 0.5)  # the fixture has few files
    index = tmp_path / "index"
    first = build(kb_copy, index, HashEmbedder(64), progress=False, dense_index="hnsw")
    graph = (first.build_dir / "dense.faiss").stat().st_ino
    old = Retriever(first.data, HashEmbedder(64), TextAnalyzer(None))
    assert old.dense_candidates(HashEmbedder(64).encode(["订个篮球场"])[0], 5).size
    path = kb_copy / "文旅" / "体育.yml"
    path.write_text(path.read_text("utf-8").replace("订个篮球场", "想订一个篮球场地"), "utf-8")
    report = build(kb_copy, index, HashEmbedder(64), progress=False, dense_index="hnsw")
    manifest = json.loads((report.build_dir / "manifest.json").read_text("utf-8"))
    assert manifest["dense"]["base"] == [s.id for s in first.data.segments]  # graph kept
    kept = report.build_dir / "dense.faiss"
    assert kept.stat().st_ino == graph  # hard link, not a new graph
    new = Retriever(report.data, HashEmbedder(64), TextAnalyzer(None), previous=old)
    assert new.dense is old.dense  # shared in memory too
    assert new.delta is not None and len(new.delta_rows) == report.data.segments[
        [s.file for s in report.data.segments].index("文旅/体育.yml")].n_rows
    vec = HashEmbedder(64).encode(["想订一个篮球场地"])[0]
    rows = new.dense_candidates(vec, 3)
    assert "想订一个篮球场地" in [new.texts[r] for r in rows]
    assert all(0 <= r < len(new.texts) for r in new.dense_candidates(vec, 50))
    assert "订个篮球场" not in new.texts  # the old row is gone, whatever the graph holds
    hit = new.search("想订一个篮球场地").hits[0]
    assert hit.matched == "想订一个篮球场地"
    # a larger change rebuilds the graph
    monkeypatch.setattr(index_module, "HNSW_DELTA_MAX", 0.0)
    path.write_text(path.read_text("utf-8").replace("想订一个篮球场地", "订篮球场"), "utf-8")
    again = build(kb_copy, index, HashEmbedder(64), progress=False, dense_index="hnsw")
    assert (again.build_dir / "dense.faiss").stat().st_ino != graph
    manifest = json.loads((again.build_dir / "manifest.json").read_text("utf-8"))
    assert manifest["dense"]["base"] == [s.id for s in again.data.segments]
