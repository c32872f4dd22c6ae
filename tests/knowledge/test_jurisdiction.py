"""Questions about another city's rules get no answer (knowledge/jurisdiction.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _kb_support import DICT_DIR, GOOD_KB

from knowledge.embedder import HashEmbedder
from knowledge.index import build, load_index
from knowledge.jurisdiction import Places, opening_place, read_places
from knowledge.retriever import Retriever
from knowledge.tokenizer import TextAnalyzer

pytestmark = pytest.mark.unit

REPO_DICT = Path(__file__).resolve().parents[2] / "knowledge" / "dict"
PLACES = frozenset({"上海", "上海市", "广州", "西安", "昆明", "河北", "三亚", "云南"})
BEIJING = frozenset({"西安门"})


@pytest.mark.parametrize(("question", "place"), [
    ("上海的高龄津贴标准是多少", "上海"),
    ("上海市医保门诊报销比例是多少", "上海"),  # the full name, reported short
    ("广州租房提取公积金每个月最多能取多少", "广州"),
    ("喂 你好 请问上海的长处方最多能开几个月", "上海"),  # voice fillers first
    ("，广州怎么签家庭医生？", "广州"),
])
def test_a_question_that_opens_with_another_city_is_about_it(question: str, place: str) -> None:
    assert opening_place(question, PLACES, BEIJING) == place


@pytest.mark.parametrize("question", [
    "在三亚旅游突然犯病住进医院了 之前没办备案 现在咋办",  # where it happened
    "我是河北来北京打工的 能办居住证吗",  # where someone comes from, and Beijing is named
    "上海户口的老人在北京能办养老助残卡吗",  # names Beijing
    "跟团去云南 导游把我们关在玉石店里",
    "西安门大街附近有养老驿站吗",  # a Beijing street
    "高龄津贴怎么申请",
    "",
])
def test_other_questions_are_not(question: str) -> None:
    assert opening_place(question, PLACES, BEIJING) is None


def test_the_name_must_be_the_first_word() -> None:
    analyzer = TextAnalyzer(REPO_DICT)
    # 昆明湖 is the Summer Palace's lake, not 昆明; 上海 stays 上海
    assert opening_place("昆明湖冬天能滑冰吗", PLACES, (), analyzer.segment) is None
    assert opening_place("昆明湖冬天能滑冰吗", PLACES, ()) == "昆明"  # why the check exists
    assert opening_place("上海医保怎么报销", PLACES, (), analyzer.segment) == "上海"


def test_places_file_format() -> None:
    elsewhere, beijing = read_places(["# comment", "上海  # inline comment", "", "!西安门",
                                      "!", "广州"])
    assert elsewhere == {"上海", "广州"} and beijing == {"西安门"}


def test_places_come_from_the_dictionary_folder_and_an_edit_is_live(tmp_path: Path) -> None:
    (tmp_path / "places").mkdir()
    (tmp_path / "places" / "a.txt").write_text("天津\n", "utf-8")
    places = Places(tmp_path, recheck=0)
    assert places.elsewhere("天津的积分落户政策有什么变化") == "天津"
    (tmp_path / "places" / "a.txt").write_text("# 天津 removed\n重庆\n", "utf-8")
    assert places.elsewhere("天津的积分落户政策有什么变化") is None
    assert places.elsewhere("重庆的积分落户政策有什么变化") == "重庆"
    (tmp_path / "places" / "b.txt").write_bytes(b"\xff\xfe bad")  # not UTF-8: ignored, logged
    assert places.elsewhere("重庆的积分落户政策有什么变化") == "重庆"
    cached = Places(tmp_path, recheck=3600)
    assert cached.elsewhere("重庆的公积金") == "重庆"
    (tmp_path / "places" / "a.txt").write_text("", "utf-8")
    assert cached.elsewhere("重庆的公积金") == "重庆"  # not checked again within the interval
    assert Places(tmp_path / "missing").elsewhere("天津的积分落户") is None
    assert Places(None).elsewhere("天津的积分落户") is None


def test_the_shipped_list_flags_no_question_of_the_base_itself() -> None:
    from knowledge.loader import load_kb

    analyzer = TextAnalyzer(REPO_DICT)
    places = Places(REPO_DICT)
    kb = load_kb(REPO_DICT.parent / "kb")
    questions = [q for item in kb.items for q in (item.question, *item.similar) if q]
    assert len(questions) > 1000
    flagged = [q for q in questions if places.elsewhere(q, analyzer.segment)]
    assert flagged == []
    assert places.elsewhere("深圳新生儿入户要准备什么材料", analyzer.segment) == "深圳"


def test_search_gives_no_answer_for_another_city(tmp_path: Path) -> None:
    build(GOOD_KB, tmp_path / "index", HashEmbedder(64), progress=False, dict_dir=DICT_DIR)
    retriever = Retriever(load_index(tmp_path / "index"), HashEmbedder(64),
                          TextAnalyzer(DICT_DIR))
    home = retriever.search("高龄津贴怎么申领", thresholds={"none": 0.0})
    assert home.outcome != "none" and home.elsewhere is None
    away = retriever.search("上海的高龄津贴怎么申领", thresholds={"none": 0.0})
    assert away.outcome == "none" and away.elsewhere == "上海"
    assert away.hits  # the candidates are still there for the log
    assert away.to_json()["elsewhere"] == "上海"
