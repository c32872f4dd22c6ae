from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _kb_support import DICT_DIR, EVAL_SET, GOOD_KB, REPO

from knowledge.index import current_build

pytestmark = pytest.mark.unit


def run_cli(*args: str, model: str = "hash") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINSHENG_EMBEDDING_MODEL": model, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "knowledge.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_search_json_one_object_per_question_in_order(tmp_path: Path) -> None:
    batch = tmp_path / "questions.txt"
    batch.write_text("老年卡咋办\n\n帮我写一篇作文\n", "utf-8")
    index = tmp_path / "index"  # fresh: search builds it first
    proc = run_cli("search", "--kb", str(GOOD_KB), "--dict", str(DICT_DIR), "--index",
                   str(index), "--json", "--top-k", "2", "--batch", str(batch),
                   "身份证丢了怎么补办")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    assert [o["query"] for o in objects] == ["身份证丢了怎么补办", "老年卡咋办", "帮我写一篇作文"]
    for obj in objects:
        assert list(obj) == ["query", "outcome", "elsewhere", "results"]
        assert obj["outcome"] in ("answer", "clarify", "none") and obj["elsewhere"] is None
        assert len(obj["results"]) <= 2
        scores = [r["score"] for r in obj["results"]]
        assert scores == sorted(scores, reverse=True)
    first = objects[0]["results"][0]
    assert first["id"] == "zw-idcard-reissue" and isinstance(first["score"], float)
    assert first["source"]["issuer"] == "北京市公安局"
    assert (index / "CURRENT").is_file()


def test_search_preview_and_eval_and_calibrate(tmp_path: Path) -> None:
    common = ["--kb", str(GOOD_KB), "--dict", str(DICT_DIR), "--index", str(tmp_path / "i")]
    proc = run_cli("search", *common, "高龄津贴怎么申领")
    assert proc.returncode == 0, proc.stderr
    assert "依据：《北京市老年人养老服务补贴津贴管理实施办法》（北京市民政局发布，" in proc.stdout
    assert "2020年1月1日起施行）" in proc.stdout and "结果：" in proc.stdout
    proc = run_cli("calibrate", *common, "--set", str(EVAL_SET))
    assert proc.returncode == 0, proc.stderr
    assert "chosen thresholds" in proc.stdout
    # calibrate publishes the build again with the thresholds (a running service picks it up)
    manifest = json.loads((current_build(tmp_path / "i") / "manifest.json").read_text())
    assert manifest["thresholds"]["calibrated"] is True
    assert manifest["calibration"]["cases"] == 50
    assert manifest["calibration"]["min_precision"] == 0.95 and manifest["calibration"]["cv"]
    assert manifest["calibration"]["min_none_precision"] == 0.9
    assert "and none precision >= 0.90" in proc.stdout
    assert "held out (5-fold cross-validation" in proc.stdout
    proc = run_cli("eval", *common, "--set", str(EVAL_SET))
    assert proc.returncode == 0, proc.stderr
    for words in ("hit@1", "hit@3", "MRR", "coverage", "answer   precision",
                  "clarify  precision", "none     precision", "recall", "latency p50",
                  "in-sample", "held out", "wrong ("):
        assert words in proc.stdout


def test_build_command_reports_refusal(tmp_path: Path) -> None:
    kb = tmp_path / "kb" / "文旅"
    kb.mkdir(parents=True)
    (kb / "x.yml").write_bytes("entries:\n  - id: 甲\n".encode("gbk"))
    proc = run_cli("build", "--kb", str(tmp_path / "kb"), "--index", str(tmp_path / "i"))
    assert proc.returncode == 1
    assert "文旅/x.yml:2: error: file is not UTF-8" in proc.stdout
    assert "not published" in proc.stdout
    proc = run_cli("search", "--kb", str(tmp_path / "kb"), "--index", str(tmp_path / "i"),
                   "--json", "问题")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no usable index" in proc.stderr
