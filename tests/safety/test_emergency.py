"""The emergency detector (safety/emergency.py, safety/classifier.py) and its measured quality on
safety/eval/emergency.jsonl (bench/emergency_eval.py prints the same numbers)."""

from __future__ import annotations

import pytest

from bench.emergency_eval import DEFAULT_SET, evaluate, load
from safety import classifier
from safety.emergency import KINDS, detect, hits, normalise

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "kind"), [
    ("我胸口疼得厉害", "medical"),
    ("喂喂我家老头子突然倒地上了怎么叫都不醒你们快点", "medical"),  # voice, no punctuation
    ("凶口疼 喘不上起", "medical"),  # speech-recognition homophones / typos
    ("我爸晕到了", "medical"),
    ("我爸好像中风了，嘴歪了", "medical"),
    ("我不想活了", "suicide"),
    ("我想自沙", "suicide"),
    ("家里着伙了", "fire"),
    ("楼道里全是浓烟", "fire"),
    ("闻到一股煤气味", "gas"),
    ("液化气泄露了", "gas"),
    ("我老公在打我", "violence"),
    ("有人拿刀砍人", "violence"),
    ("我被困在电梯里了", "rescue"),
    ("有人落水了快救人", "rescue"),
    ("救命啊", "general"),
    ("著火了", "fire"),  # traditional 著
])
def test_certain_emergencies_and_their_kind(text: str, kind: str) -> None:
    found = detect(text, model=False)
    assert found is not None and found.certain, text
    assert found.kind == kind


@pytest.mark.parametrize("text", [
    "心脏病报销比例是多少",
    "消防证怎么办理",
    "燃气费怎么交",
    "心理咨询怎么预约",
    "胸痛中心在哪个医院",
    "中风的早期症状有哪些",
    "如果家里着火了应该怎么办",  # a hypothesis
    "我爸去年中风了，现在能申请护理补贴吗",  # the past, administration
    "经常胸口疼应该挂哪个科",  # chronic
    "笑死我了", "今天热死了，公园开门吗", "想死你们了，好久没来公园了", "跳楼价甩卖是真的吗",
    "燃气灶打不着火怎么回事",  # 不着火: negated
    "落水管堵了找谁",
    "/greet", '/choose_area{"area": "医疗"}',  # payloads never
])
def test_ordinary_messages_are_not_certain_emergencies(text: str) -> None:
    found = detect(text, model=False)
    assert found is None or not found.certain, (text, found)


def test_negation_cancels_only_the_negated_sign() -> None:
    assert detect("不是胸口疼，是牙疼，挂什么科", model=False) is None
    found = detect("不是头疼，是胸口疼", model=False)
    assert found is not None and found.kind == "medical"
    assert detect("我没晕倒，就是有点头晕", model=False) is None
    assert detect("没有人打我，我是想咨询离婚", model=False) is None
    assert detect("我不是想自杀，是想问心理咨询怎么预约", model=False) is None


def test_a_question_whether_is_not_a_negation() -> None:
    found = detect("我妈嘴角歪了口水直流是不是中风了", model=False)
    assert found is not None and found.kind == "medical"


def test_urgency_overrides_the_past() -> None:
    assert detect("我爸以前心梗过，现在胸口又疼了", model=False) is not None


def test_every_sign_of_a_message_is_reported_with_its_context() -> None:
    found = {(h.sign, h.negated) for h in hits("我没晕倒，胸口疼")}
    assert ("collapse", True) in found and ("chest pain", False) in found
    assert normalise("胸口疼 喘不上气") == "胸口疼，喘不上气"  # a space is a clause break


def test_a_soft_sign_is_only_a_possible_emergency() -> None:
    found = detect("老人走失了怎么办", model=False)
    assert found is not None and not found.certain and found.kind == "general"


def test_the_classifier_finds_what_the_lexicon_does_not_know() -> None:
    model = classifier.model()
    assert model is not None
    text = "我爸手脚冰凉 浑身哆嗦 说不上来哪儿难受"  # no sign of the lexicon
    assert detect(text, model=False) is None
    found = detect(text, model)
    assert found is not None and not found.certain
    assert found.kind == "medical"
    assert detect("我家老太太想办个老年卡", model) is None
    # Explicitly negated signs are not given to the classifier at all.
    assert detect("不是胸口疼，是牙疼", model) is None


def test_the_classifier_is_deterministic() -> None:
    examples = classifier.load_examples()
    a = classifier.EmergencyModel(examples)
    b = classifier.EmergencyModel(examples)
    for text in ("我喘不过气", "燃气费怎么交", "楼下有动静"):
        assert a.probability(text) == b.probability(text)


def test_recall_and_false_alarms_on_the_eval_set() -> None:
    """The thresholds the README reports, with a margin (bench/emergency_eval.py)."""
    rows = load(DEFAULT_SET)
    assert sum(1 for r in rows if r["kind"]) >= 150
    assert sum(1 for r in rows if not r["kind"]) >= 300
    report = evaluate(rows, classifier.model())
    assert report.recall >= 0.95, report.misses
    assert report.false_alarm_rate <= 0.10, report.alarms
    for kind in KINDS:
        assert report.kind_recall(kind) >= 0.85, (kind, report.misses)
    # Certain emergencies (answered instead of anything else) must almost never be wrong.
    assert report.certain_false_alarms / report.negatives <= 0.03, report.alarms
    lexicon = evaluate(rows, False)
    assert lexicon.recall >= 0.65
    assert lexicon.false_alarm_rate <= 0.03


def test_the_eval_set_is_not_in_the_training_data() -> None:
    training = {normalise(e.text) for e in classifier.load_examples()}
    overlap = [r["text"] for r in load(DEFAULT_SET) if normalise(r["text"]) in training]
    assert not overlap
