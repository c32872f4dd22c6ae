"""Rendering Rasa's messages for WeChat, without a server."""

import pytest

from channels.wechat.render import (
    pick_response_text,
    render_messages,
    split_text,
    utf8_len,
    wechat_markup,
)
from tests.support import as_sent, domain

pytestmark = pytest.mark.unit

HINT = "（回复序号即可选择）"
SOURCE = "依据：《北京市养老服务补贴津贴管理实施办法》（北京市民政局发布，2023年1月1日起施行）"


def greet_message() -> dict:
    variant = as_sent(domain()["responses"]["utter_greet"][0])
    return {"recipient_id": "o1", "text": variant["text"], "buttons": variant["buttons"]}


def test_buttons_become_numbered_options_with_their_payloads():
    rendered = render_messages([greet_message()], options_hint=HINT)
    assert len(rendered.chunks) == 1
    lines = rendered.chunks[0].split("\n")
    assert lines[-5:] == ["1. 政务服务", "2. 养老服务", "3. 看病就医", "4. 文化旅游", HINT]
    assert rendered.options == [
        '/choose_area{"area": "政务服务"}',
        '/choose_area{"area": "养老"}',
        '/choose_area{"area": "医疗"}',
        '/choose_area{"area": "文旅"}',
    ]


def test_numbering_continues_across_messages_and_url_buttons_become_links():
    rendered = render_messages(
        [
            {"text": "您是想问以下哪个问题？", "buttons": [
                {"title": "养老助残卡怎么办", "payload": '/ask_question{"kb_id": "yl-001"}'},
            ]},
            {"text": "或者", "buttons": [
                {"title": "转人工客服", "payload": "/request_human"},
                {"title": "网上办理", "url": "https://banshi.beijing.gov.cn", "type": "web_url"},
            ]},
        ]
    )
    text = rendered.chunks[0]
    assert '<a href="https://banshi.beijing.gov.cn">网上办理</a>' in text
    assert text.endswith("1. 养老助残卡怎么办\n2. 转人工客服")
    assert rendered.options == ['/ask_question{"kb_id": "yl-001"}', "/request_human"]


def test_no_buttons_no_options_and_no_hint():
    rendered = render_messages([{"text": "不客气。"}], options_hint=HINT)
    assert rendered.chunks == ["不客气。"] and rendered.options == []


def test_markdown_links_become_wechat_links_and_emphasis_is_removed():
    text = "## 办理渠道\n**线上**：登录[北京市政务服务网](https://banshi.beijing.gov.cn)办理。"
    assert wechat_markup(text) == (
        '办理渠道\n线上：登录<a href="https://banshi.beijing.gov.cn">北京市政务服务网</a>办理。'
    )


def test_link_attribute_is_escaped():
    text = '[点这里](https://example.gov.cn/a?x=1&y="2")'
    expected = '<a href="https://example.gov.cn/a?x=1&amp;y=&quot;2&quot;">点这里</a>'
    assert wechat_markup(text) == expected


def test_images_and_attachments_become_links_custom_payloads_are_skipped():
    rendered = render_messages(
        [
            {"image": "https://example.gov.cn/map.png"},
            {"custom": {"voice": {"hangup": True}}},
            {"attachment": "https://example.gov.cn/form.pdf"},
        ]
    )
    assert rendered.chunks == ["https://example.gov.cn/map.png\n\nhttps://example.gov.cn/form.pdf"]


def test_nothing_to_say_renders_nothing():
    assert render_messages([]).chunks == []
    assert render_messages([{"custom": {"x": 1}}, {"text": "  "}]).chunks == []


def long_answer(paragraphs: int) -> str:
    body = "\n\n".join(
        f"第{i}条：" + "老年人持北京通养老助残卡可以享受公园免费游览、公交免费乘车等优待服务。" * 6
        for i in range(1, paragraphs + 1)
    )
    return f"{body}\n{SOURCE}"


def test_long_answers_are_split_within_the_limit_at_paragraphs_and_keep_the_source_line():
    rendered = render_messages([{"text": long_answer(8)}], max_bytes=2048, max_chunks=5)
    assert len(rendered.chunks) > 1
    assert all(utf8_len(chunk) <= 2048 for chunk in rendered.chunks)
    assert all(chunk.startswith("第") for chunk in rendered.chunks)  # cut between paragraphs
    assert rendered.chunks[-1].endswith(SOURCE)
    assert "".join(rendered.chunks).replace("\n", "") == long_answer(8).replace("\n", "")


def test_too_long_answers_are_shortened_but_keep_the_source_line_and_options():
    button = {"title": "转人工客服", "payload": "/request_human"}
    message = {"text": long_answer(60), "buttons": [button]}
    rendered = render_messages([message], options_hint=HINT, max_bytes=2048, max_chunks=3)
    assert len(rendered.chunks) <= 3
    assert all(utf8_len(chunk) <= 2048 for chunk in rendered.chunks)
    joined = "\n".join(rendered.chunks)
    assert "…" in joined
    assert SOURCE in joined
    assert joined.endswith(f"1. 转人工客服\n{HINT}")
    assert rendered.options == ["/request_human"]


def test_a_single_huge_line_is_cut_at_sentences_then_hard():
    line = "。".join(["这是一句很长的说明" * 20] * 10) + "。"
    chunks = split_text(line, 600)
    assert all(utf8_len(c) <= 600 for c in chunks)
    assert "".join(chunks) == line
    no_punctuation = "字" * 1000
    chunks = split_text(no_punctuation, 600)
    assert all(utf8_len(c) <= 600 for c in chunks) and "".join(chunks) == no_punctuation


def test_links_are_never_cut():
    anchor = '<a href="https://banshi.beijing.gov.cn/guide/123">北京市政务服务网办事指南</a>'
    line = ("说明文字，" * 60) + anchor + ("其他说明。" * 60)
    chunks = split_text(line, 400)
    assert all(utf8_len(c) <= 400 for c in chunks)
    assert any(anchor in c for c in chunks)


def test_pick_response_text_prefers_the_wechat_variant():
    responses = {
        "utter_x": [
            {"text": "通用", "condition": [{"type": "slot", "name": "a", "value": 1}]},
            {"text": "默认"},
            {"text": "微信", "channel": "wechat"},
            {"text": "语音", "channel": "voice"},
        ],
        "utter_y": [{"text": "默认"}, {"text": "语音", "channel": "voice"}],
    }
    assert pick_response_text(responses, "utter_x", "wechat") == "微信"
    assert pick_response_text(responses, "utter_y", "wechat") == "默认"
    assert pick_response_text(responses, "utter_missing", "wechat") is None


def test_the_channel_reads_its_wording_from_the_domain():
    responses = domain()["responses"]
    assert pick_response_text(responses, "utter_wechat_options_hint", "wechat")
    assert pick_response_text(responses, "utter_wechat_unavailable", "wechat")
    link = pick_response_text(responses, "utter_knowledge_link", "wechat")
    assert link.format(title="办事指南", url="https://banshi.beijing.gov.cn") == (
        '\n详情：<a href="https://banshi.beijing.gov.cn">办事指南</a>'
    )
