from __future__ import annotations

from pathlib import Path

import pytest
from _kb_support import DICT_DIR

from knowledge.evaluation import load_eval
from knowledge.tokenizer import TextAnalyzer, dictionary_hash

pytestmark = pytest.mark.unit


def test_synonyms_rewrite_to_canonical_and_user_dict_words() -> None:
    analyzer = TextAnalyzer(DICT_DIR)
    assert analyzer.normalize("我的老年卡丢了") == "我的养老助残卡丢了"
    assert analyzer.normalize("北京通养老助残卡") == "养老助残卡"  # longest variant first
    assert analyzer.normalize("ＡＢＣ医疗保险") == "abc医保"  # NFKC + lower case
    words = analyzer.words("请问高龄津贴怎么领呢？")
    assert "高龄津贴" in words  # from the jieba user dictionary
    assert not {"请问", "呢", "？"} & set(words)  # stop words and punctuation dropped
    assert analyzer.char_ngrams("医保卡") == ["医保", "保卡"]
    assert analyzer.char_ngrams("卡") == ["卡"]


def test_private_jieba_instance_leaves_the_global_one_alone() -> None:
    import jieba

    TextAnalyzer(DICT_DIR).words("养老助残卡")
    assert "养老助残卡" not in jieba.dt.FREQ or not jieba.dt.initialized


def test_dictionary_hash_follows_the_files(tmp_path: Path) -> None:
    (tmp_path / "jieba").mkdir()
    (tmp_path / "synonyms").mkdir()
    empty = dictionary_hash(tmp_path)
    (tmp_path / "jieba" / "a.txt").write_text("公积金 10 n\n", "utf-8")
    with_word = dictionary_hash(tmp_path)
    (tmp_path / "synonyms" / "s.yml").write_text("- [医保, 医疗保险]\n", "utf-8")
    assert len({empty, with_word, dictionary_hash(tmp_path)}) == 3
    assert dictionary_hash(tmp_path) == dictionary_hash(tmp_path)


def test_eval_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"q": "医保", "expect": "answer", "ids": ["a"]}\n'
                    '{"q": "x", "expect": "maybe"}\n', "utf-8")
    with pytest.raises(ValueError, match=r"e\.jsonl:2: needs 'q' and 'expect'"):
        load_eval(path)
