import re

import pytest

from channels.voice.speakable import cardinal, digits, shorten, speakable, to_ssml

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        # phone numbers and hotlines: digit by digit, 1 as 幺, in groups
        ("请拨打13812345678。", "请拨打幺三八，幺二三四，五六七八。"),
        ("电话：+86 138 1234 5678", "电话：幺三八，幺二三四，五六七八。"),
        ("座机010-12345678", "座机零幺零，幺二三四，五六七八。"),
        ("拨打12345市民服务热线", "拨打幺二三四五市民服务热线。"),
        ("紧急情况请拨打110、119、120、122。", "紧急情况请拨打幺幺零、幺幺九、幺二零、幺二二。"),
        ("养老服务热线96156", "养老服务热线九六幺五六。"),
        # ticket and case numbers
        ("您的工单号是GD202403050012", "您的工单号是GD二零二四，零三零五，零零幺二。"),
        ("受理编号2024001234", "受理编号二零二四，零零幺二，三四。"),
        # dates: the year digit by digit with 一, month and day as numbers
        ("2024年3月5日起施行", "二零二四年三月五日起施行。"),
        ("有效期至2024-03-05", "有效期至二零二四年三月五日。"),
        ("2021年9月", "二零二一年九月。"),
        ("3月15号办理", "三月十五号办理。"),
        ("2024年底前", "二零二四年底前。"),
        # times
        ("早上8:30开门", "早上八点半开门。"),
        ("8:00-17:30", "八点到下午五点半。"),
        ("9:05至12:00", "九点零五分到中午十二点。"),
        ("晚上20:15截止", "晚上八点十五分截止。"),
        ("下午2:30", "下午两点半。"),
        ("0:00", "零点。"),
        # amounts, percentages, quantities
        ("费用¥1,234.50", "费用一千二百三十四元五角。"),
        ("每人12.5元", "每人十二元五角。"),
        ("3.05元", "三元零五分。"),
        ("0.5元", "五角。"),
        ("补贴1.5万元", "补贴一点五万元。"),
        ("每月200元/月", "每月二百元每月。"),
        ("门票2000元", "门票两千元。"),
        ("报销比例50%", "报销比例百分之五十。"),
        ("0.5%", "百分之零点五。"),
        ("3-5个工作日", "三到五个工作日。"),
        ("需要2个人", "需要两个人。"),
        ("坐2号线到2楼", "坐二号线到二楼。"),
        ("60周岁以上", "六十周岁以上。"),
        ("第3条", "第三条。"),
        ("24小时服务", "二十四小时服务。"),
        ("12000人", "一万两千人。"),
        ("5A级景区", "五A级景区。"),
        ("3.5", "三点五。"),
    ],
)
def test_numbers_are_read_the_way_a_chinese_caller_expects(written, spoken):
    assert speakable(written) == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("**请带好**身份证", "请带好身份证。"),
        ("详见[办事指南](https://banshi.beijing.gov.cn/x)。", "详见办事指南。"),
        ("登录首都之窗网站（www.beijing.gov.cn）办理", "登录首都之窗网站办理。"),
        ("网址：https://example.gov.cn/a?b=1", ""),
        ("发邮件到 help@bj.gov.cn 咨询", "发邮件到咨询。"),
        ("办好了😀👍🎉", "办好了。"),
        ("☎ 咨询 ✔ 预约 ★", "咨询预约。"),
        ("## 所需材料\n- 身份证\n- 户口本", "所需材料。身份证。户口本。"),
        ("1. 先预约\n2. 再去窗口", "第一，先预约。第二，再去窗口。"),
        ("①带身份证②带照片", "第一，带身份证。第二，带照片。"),
        ("| 证件 | 费用 |\n|---|---|\n| 身份证 | 免费 |\n| 居住证 | 10元 |",
         "证件，费用；身份证，免费；居住证，十元。"),
        ("`代码`和<b>粗体</b>", "代码和粗体。"),
        ("身份证/户口本", "身份证或户口本。"),
        ("", ""),
        ("😀", ""),
    ],
)
def test_what_cannot_be_heard_is_removed(written, spoken):
    assert speakable(written) == spoken


def test_knowledge_style_text_becomes_plain_speech():
    written = (
        "接诉即办是北京对市民通过12345市民服务热线等渠道反映的诉求，快速响应的工作机制。\n"
        "《北京市接诉即办工作条例》于2021年9月24日通过。详情：https://www.beijing.gov.cn/"
    )
    spoken = speakable(written)
    assert spoken == (
        "接诉即办是北京对市民通过幺二三四五市民服务热线等渠道反映的诉求，快速响应的工作机制。"
        "《北京市接诉即办工作条例》于二零二一年九月二十四日通过。"
    )
    assert not re.search(r"[0-9A-Za-z:/%*#|]", spoken)


def test_full_width_digits_are_read_too():
    assert speakable("电话１２３４５") == "电话幺二三四五。"


def test_digits_and_cardinal_helpers():
    assert digits("2021", yao=False) == "二零二一"
    assert digits("12345678", group=4) == "幺二三四，五六七八"
    assert cardinal("10") == "十"
    assert cardinal("2000") == "两千"
    assert cardinal("105") == "一百零五"
    assert cardinal("12345678901234567890") == "一二三四五六七八九零一二三四五六七八九零"


def test_shorten_cuts_at_a_sentence_end():
    text = "第一句话说明了办理的地点。第二句话说明需要的材料和费用。第三句话说明时限。"
    short, cut = shorten(text, 30)
    assert cut and short == "第一句话说明了办理的地点。第二句话说明需要的材料和费用。"
    assert shorten(text, 200) == (text, False)


def test_shorten_falls_back_to_a_comma_and_ends_the_sentence():
    short, cut = shorten("这是一句没有句号的很长的话，后面还有很多很多很多很多很多的内容", 20)
    assert cut and short == "这是一句没有句号的很长的话。"


def test_ssml_escapes_and_pauses_between_parts():
    ssml = to_ssml(["请按1<确认>", "谢谢"], "zh-CN")
    assert ssml == (
        '<speak version="1.0" xml:lang="zh-CN">请按1&lt;确认&gt;<break time="300ms"/>谢谢</speak>'
    )
