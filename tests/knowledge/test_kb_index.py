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


@pytest.mark.parametrize("change", ["model", "dimension", "dictionary", "force"])
def test_manifest_changes_force_a_full_rebuild(kb_copy: Path, dict_copy: Path, tmp_path: Path,
                                               change: str) -> None:
    index = tmp_path / "index"
    build(kb_copy, index, HashEmbedder(64), progress=False, dict_dir=dict_copy)
    emb = CountingEmbedder(HashEmbedder(64))
    force = False
    if change in ("model", "dimension"):
        emb = CountingEmbedder(HashEmbedder(32))  # another model name and dimension
    elif change == "dictionary":
        (dict_copy / "jieba" / "test.txt").write_text("养老助残卡 100 n\n公积金 50 n\n", "utf-8")
        assert stale_reason(kb_copy, index, emb, dict_copy) == "dictionary changed"
    else:
        force = True
    report = build(kb_copy, index, emb, progress=False, dict_dir=dict_copy, force=force)
    assert report.published and report.full_rebuild
    assert report.embedded == len(emb.texts) and report.reused == 0
    manifest = json.loads((current_build(index) / "manifest.json").read_text("utf-8"))
    assert manifest["model"]["dimension"] == emb.dimension


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
