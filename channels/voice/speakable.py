"""Turns written Chinese into text a TTS engine reads the way a Chinese caller expects.

Pure functions, no I/O (cn2an is imported on first use: it reads its data files when imported).

What it does, in order:

1. removes what cannot be heard: markdown (emphasis, headers, bullets, code, links keep their
   words), HTML tags, tables (cells become a list), URLs, e-mail addresses and emoji;
2. reads numbers by their kind:

   ================================  ===========================================================
   written                           spoken
   ================================  ===========================================================
   ``13812345678``, ``010-12345678``  digit by digit, 1 as 幺, grouped 3-4-4 / area code, 4-4
   ``12345``, ``110``, ``96156``      hotlines and emergency numbers: 幺二三四五, 幺幺零
   ``GD202403050012``, ``2024001234`` ticket and case numbers: letters, then digits in fours
   ``2024年3月5日``, ``2024-03-05``     二零二四年三月五日 (the year digit by digit, 1 as 一)
   ``8:30``, ``8:00-17:30``           八点半, 八点到下午五点半
   ``¥1,234.50``, ``12.5元``, ``1.5万元`` 一千二百三十四元五角, 十二元五角, 一点五万元
   ``50%``                            百分之五十
   ``3-5个工作日``, ``2个``, ``2000元``  三到五个工作日, 两个, 两千元
   ``1. 带身份证``                      第一，带身份证
   ================================  ===========================================================

3. tidies the punctuation so that every line ends a sentence.

:func:`shorten` cuts a long answer at a sentence end; :func:`to_ssml` wraps spoken parts in
SSML for gateways whose TTS engine takes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from xml.sax.saxutils import escape

__all__ = ["cardinal", "digits", "shorten", "speakable", "to_ssml"]

_FULL_WIDTH = {
    **{code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)},  # ０-９
    **{code: code - 0xFEE0 for code in range(0xFF21, 0xFF3B)},  # Ａ-Ｚ
    **{code: code - 0xFEE0 for code in range(0xFF41, 0xFF5B)},  # ａ-ｚ
    0xFF05: ord("%"),
    0xFF0B: ord("+"),
    0xFF0F: ord("/"),
    0xFF5E: ord("~"),
    0xFFE5: ord("¥"),
    0x3000: ord(" "),
}
_CIRCLED = {chr(0x2460 + n): f"\n{n + 1}. " for n in range(20)}  # ① … ⑳ start a list item

_PHONE_DIGITS = str.maketrans("0123456789", "零幺二三四五六七八九")
_PLAIN_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")

_CJK = "\u4e00-\u9fff"
_STOP = "，。；：！？、（）【】《》“”‘’「」"

# --- what cannot be heard -------------------------------------------------------------------
_URL = re.compile(
    rf"(?:https?://|ftp://|www\.)[^\s{_CJK}{_STOP}<>\"']+", re.IGNORECASE
)
_BARE_DOMAIN = re.compile(
    r"(?<![\w@.])(?:[a-z0-9-]+\.)+(?:cn|com|net|org|gov|edu|info)(?:/[^\s"
    rf"{_CJK}{_STOP}]*)?(?![\w.])",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_GONE = "\x00"  # where a URL or an address was
_GONE_LABEL = re.compile(
    r"(?:(?:详见|详情请见|详情见|详情|具体见|网址|网站地址|链接|地址|邮箱)\s*[：:]?\s*)?\x00"
    r"(?:\s*(?:或|和|及|、|，|/)?\s*\x00)*"
)
_GONE_JOINER = re.compile(r"(?:或|和|及)\s*\x00|\x00\s*(?:或|和|及)(?=[，。；！？\s]|$)")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, supplemental symbols
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats (☎ ✔ ★ …)
    "\u2b00-\u2bff"  # arrows and stars
    "\u2190-\u21ff"  # arrows
    "\u2300-\u23ff"  # technical (⌚ ⏰ …)
    "\u25a0-\u25ff"  # geometric shapes
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters
    "\u00a9\u00ae\u2122"  # © ® ™
    "]+"
)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_FENCE = re.compile(r"^\s*```.*$", re.MULTILINE)
_MD_HEADER = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_MD_QUOTE = re.compile(r"^\s*>+\s?", re.MULTILINE)
_MD_BULLET = re.compile(r"^\s*[-*+•·▪◦]\s+", re.MULTILINE)
_MD_RULE = re.compile(r"^\s*([-*_=])\1{2,}\s*$", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*\*|__|~~)(.+?)\1")
_MD_STAR = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?!\w)")
_MD_CODE = re.compile(r"`+([^`]*)`+")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")

# --- numbers --------------------------------------------------------------------------------
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_MOBILE = re.compile(r"(?<![\d.])(?:\+?86[-\s]?)?(1[3-9]\d)[-\s]?(\d{4})[-\s]?(\d{4})(?![\d.])")
_LANDLINE = re.compile(r"(?<![\d.])[(（]?(0\d{2,3})[)）]?[-\s]?(\d{7,8})(?![\d.])")
_DATE_YMD = re.compile(
    r"(?<!\d)(\d{4})\s*(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?|[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?![\d.]))"
)
_DATE_YM = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月(?!\d)")
_DATE_MD = re.compile(r"(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})\s*([日号])")
_YEAR = re.compile(r"(?<![\d.])(\d{4})\s*(年(?:度|底|初|末|中)?)")
_MONTH = re.compile(r"(?<![\d.])(\d{1,2})\s*月(?!份?\s*\d)")
_TIME = r"(\d{1,2})[:：](\d{2})"
_TIME_RANGE = re.compile(rf"(?<![\d:]){_TIME}\s*[-—–~～至到]+\s*{_TIME}(?![\d:])")
_TIME_ONE = re.compile(rf"(?<![\d:]){_TIME}(?![\d:])")
_RANGE = re.compile(r"(?<![\d.])(\d{1,4}(?:\.\d+)?)\s*[-—–~～]+\s*(?=\d{1,4}(?![\d:]))")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_MONEY_SIGN = re.compile(r"[¥￥]\s*(\d+(?:\.\d+)?)(\s*[万亿])?(\s*元)?")
_MONEY_YUAN = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(\s*[万亿])?\s*(元|块钱|块)")
_PER = re.compile(
    r"/\s*(?=(?:月|年|天|日|人|次|小时|周|户|张|位|件|份|平方米|公里)(?![\u4e00-\u9fff]{2}))"
)
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,4})[-_]?(\d{4,})(?![\d.])")
_ORDINAL = re.compile(r"第\s*(\d+)")
_LIST_ITEM = re.compile(r"^\s*[(（]?(\d{1,2})\s*(?:[.．](?!\d)|[、)）])\s*(?=\S)", re.MULTILINE)
# Measure words after which a number is a quantity (read as a cardinal).
_MEASURE = (
    "个工作日|工作日|个月|周岁|岁|个|人次|人|天|日|年|周|小时|分钟|秒|次|张|份|本|件|种|位|名|条|家|所|"
    "项|层|楼|倍|公里|千米|平方米|平米|米|公斤|千克|克|斤|户|台|辆|间|套|床|栋|室|章|节|步|段|页|号线|号|"
    "路|期|批|类|款|级|点|分|角|万|千|百|亿|多|余|以上|以下|以内|左右|起|周年"
)
_QUANTITY = re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?)\s*(?=(?:{_MEASURE}))")
# With these, a lone 2 is 两 (两个, 两天, 两点); with others (二号, 二楼, 二月) it stays 二.
_LIANG = re.compile(
    r"^(?:个|人|岁|周岁|天|年|周|小时|分钟|次|张|份|本|件|种|位|名|条|家|所|项|倍|公里|千米|"
    r"平方米|米|公斤|千克|斤|户|台|辆|间|套|点|万|千|百|亿|块|元|角|成)"
)
_SERVICE_NUMBER = re.compile(r"(?<![\d.])(110|119|120|122|12\d{3}|9[56]\d{3,4})(?![\d.])")
_LONG_DIGITS = re.compile(r"(?<![\d.])(0\d+|\d{5,})(?![\d.])")
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)")

# --- punctuation ----------------------------------------------------------------------------
_SPACES = re.compile(r"[ \t\u00a0]+")
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}{_STOP}])\s+|\s+(?=[{_CJK}{_STOP}])")
_TERMINAL = "。！？；…"
_REPEATED = re.compile(r"([，。；！？、：])[，。；！？、：\s]*")
_EMPTY_BRACKETS = re.compile(r"[(（【\[《]\s*[，。；、：]*\s*[)）】\]》]")
_LEADING_PUNCT = re.compile(r"^[，。；！？、：\s]+")
_COLON_BEFORE_END = re.compile(r"[：:]\s*(?=[。；！？]|$)")
_STRAY = re.compile(r"[#*_|`^\\<>{}\[\]=@$]+")


@cache
def _an2cn() -> Callable[[str], str]:
    import cn2an  # reads data files when imported, so only on first use

    return cn2an.an2cn


def digits(number: str, *, yao: bool = True, group: int = 0) -> str:
    """Reads ``number`` digit by digit (1 as 幺 unless ``yao`` is false), optionally in groups."""
    table = _PHONE_DIGITS if yao else _PLAIN_DIGITS
    spoken = number.translate(table)
    if group and len(spoken) > group + 2:
        spoken = "，".join(spoken[i : i + group] for i in range(0, len(spoken), group))
    return spoken


def cardinal(number: str) -> str:
    """Reads a number as a quantity: 12000 → 一万二千, 2000 → 两千, 3.5 → 三点五."""
    number = number.lstrip("0") or "0" if "." not in number else number
    if number.startswith("."):
        number = "0" + number
    whole = number.split(".")[0]
    if len(whole) > 16:
        return digits(number.replace(".", "点"), yao=False)
    spoken = _an2cn()(number)
    return re.sub("二(?=[千万亿])", "两", spoken)


def _money(amount: str, scale: str = "") -> str:
    """12.5 → 十二元五角; 3.05 → 三元零五分; 1.5 with 万 → 一点五万元."""
    if scale or "." not in amount:
        return f"{cardinal(amount)}{scale}元"
    whole, fraction = amount.split(".", 1)
    fraction = (fraction + "00")[:2]
    jiao, fen = int(fraction[0]), int(fraction[1])
    spoken = f"{cardinal(whole)}元" if int(whole or "0") else ""
    if jiao:
        spoken += f"{cardinal(str(jiao))}角"
    elif fen and spoken:
        spoken += "零"
    if fen:
        spoken += f"{cardinal(str(fen))}分"
    return spoken or "零元"


def _hour_minute(hour: int, minute: int, *, said_period: bool = False) -> str:
    if said_period and 12 < hour < 24:  # 下午14:30: the text already says which half of the day
        hour -= 12
    if said_period and hour != 0:
        prefix, shown = "", None
    elif hour == 0:
        prefix, shown = "", "零"
    elif hour == 12:
        prefix, shown = "中午", "十二"
    elif 13 <= hour <= 17:
        prefix, shown = "下午", None
        hour -= 12
    elif 18 <= hour <= 23:
        prefix, shown = "晚上", None
        hour -= 12
    else:
        prefix, shown = "", None
    if shown is None:
        shown = "两" if hour == 2 else cardinal(str(hour))
    if minute == 0:
        tail = ""
    elif minute == 30:
        tail = "半"
    elif minute < 10:
        tail = f"零{cardinal(str(minute))}分"
    else:
        tail = f"{cardinal(str(minute))}分"
    return f"{prefix}{shown}点{tail}"


_PERIOD = ("凌晨", "早上", "早晨", "上午", "中午", "下午", "傍晚", "晚上", "夜里", "夜间")


def _said_period(match: re.Match[str]) -> bool:
    return match.string[: match.start()].rstrip().endswith(_PERIOD)


def _valid_time(hour: str, minute: str) -> bool:
    return int(hour) <= 24 and int(minute) < 60


def _time_range(match: re.Match[str]) -> str:
    h1, m1, h2, m2 = match.groups()
    if not (_valid_time(h1, m1) and _valid_time(h2, m2)):
        return match.group(0)
    first = _hour_minute(int(h1), int(m1), said_period=_said_period(match))
    return f"{first}到{_hour_minute(int(h2), int(m2))}"


def _time(match: re.Match[str]) -> str:
    hour, minute = match.groups()
    if not _valid_time(hour, minute):
        return match.group(0)
    return _hour_minute(int(hour), int(minute), said_period=_said_period(match))


def _date(year: str, month: str | None, day: str | None, day_word: str = "日") -> str | None:
    if month is not None and not 1 <= int(month) <= 12:
        return None
    if day is not None and not 1 <= int(day) <= 31:
        return None
    spoken = f"{digits(year, yao=False)}年" if year else ""
    if month is not None:
        spoken += f"{cardinal(month)}月"
    if day is not None:
        spoken += f"{cardinal(day)}{day_word}"
    return spoken


def _date_ymd(match: re.Match[str]) -> str:
    year, month_cn, day_cn, month_dash, day_dash = match.groups()
    month, day = (month_cn, day_cn) if month_cn is not None else (month_dash, day_dash)
    return _date(year, month, day) or match.group(0)


def _quantity(match: re.Match[str]) -> str:
    number = match.group(1)
    following = match.string[match.end() :]
    if number == "2" and _LIANG.match(following):
        return "两"
    return cardinal(number)


def _strip_markdown(text: str) -> str:
    text = _MD_FENCE.sub("", text)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if _TABLE_RULE.match(stripped) and "-" in stripped:
            continue
        if stripped.startswith("|") and stripped.endswith("|") and stripped.count("|") >= 2:
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            line = "，".join(cell for cell in cells if cell) + "；"
        lines.append(line)
    text = "\n".join(lines)
    text = _MD_RULE.sub("", text)
    text = _MD_HEADER.sub("", text)
    text = _MD_QUOTE.sub("", text)
    text = _MD_BULLET.sub("", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    text = _MD_STAR.sub(r"\1", text)
    return _MD_CODE.sub(r"\1", text)


def _read_numbers(text: str) -> str:
    text = _THOUSANDS.sub("", text)
    text = _MOBILE.sub(lambda m: "，".join(digits(part) for part in m.groups()), text)
    text = _LANDLINE.sub(
        lambda m: f"{digits(m.group(1))}，{digits(m.group(2), group=4)}", text
    )
    text = _DATE_YMD.sub(_date_ymd, text)
    text = _DATE_YM.sub(lambda m: _date(m.group(1), m.group(2), None) or m.group(0), text)
    text = _DATE_MD.sub(
        lambda m: _date("", m.group(1), m.group(2), m.group(3)) or m.group(0), text
    )
    text = _YEAR.sub(lambda m: f"{digits(m.group(1), yao=False)}{m.group(2)}", text)
    text = _MONTH.sub(
        lambda m: f"{cardinal(m.group(1))}月" if 1 <= int(m.group(1)) <= 12 else m.group(0),
        text,
    )
    text = _TIME_RANGE.sub(_time_range, text)
    text = _TIME_ONE.sub(_time, text)
    text = _LIST_ITEM.sub(lambda m: f"第{cardinal(m.group(1))}，", text)
    text = _RANGE.sub(r"\1到", text)
    text = _PERCENT.sub(lambda m: f"百分之{cardinal(m.group(1))}", text)
    text = _MONEY_SIGN.sub(lambda m: _money(m.group(1), (m.group(2) or "").strip()), text)
    text = _MONEY_YUAN.sub(
        lambda m: _money(m.group(1), (m.group(2) or "").strip())
        if m.group(3) == "元"
        else f"{cardinal(m.group(1))}{(m.group(2) or '').strip()}块",
        text,
    )
    text = _PER.sub("每", text)
    text = _CODE.sub(lambda m: f"{m.group(1).upper()}{digits(m.group(2), group=4)}", text)
    text = _ORDINAL.sub(lambda m: f"第{cardinal(m.group(1))}", text)
    text = _QUANTITY.sub(_quantity, text)
    text = _SERVICE_NUMBER.sub(lambda m: digits(m.group(1)), text)
    text = _LONG_DIGITS.sub(lambda m: digits(m.group(1), group=4), text)
    return _NUMBER.sub(lambda m: cardinal(m.group(1)), text)


def _tidy(text: str) -> str:
    text = text.replace("~", "到").replace("&", "和").replace("+", "加")
    text = _STRAY.sub("", text)
    text = re.sub(r"(?<=[\u4e00-\u9fff])\s*/\s*(?=[\u4e00-\u9fff])", "或", text)
    text = text.replace("/", "")
    sentences = []
    for line in text.splitlines():
        line = _SPACES.sub(" ", line).strip()
        line = _LEADING_PUNCT.sub("", line)
        if not line:
            continue
        if line[-1] not in _TERMINAL and line[-1] not in "，、：":
            line += "。"
        elif line[-1] in "，、：":
            line = line[:-1] + "。"
        sentences.append(line)
    text = "".join(sentences)
    text = _CJK_SPACE.sub("", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _COLON_BEFORE_END.sub("", text)
    text = _REPEATED.sub(lambda m: _strongest(m.group(0)), text)
    text = _LEADING_PUNCT.sub("", text).strip()
    if text.endswith(("；", "：", "，", "、")):
        text = text[:-1] + "。"
    return text


def _strongest(run: str) -> str:
    for mark in "。？！；：，、":
        if mark in run:
            return mark
    return run[0]


def speakable(text: str) -> str:
    """The spoken form of ``text``; an empty string if nothing in it can be heard."""
    if not text:
        return ""
    text = text.translate(_FULL_WIDTH)
    text = "".join(_CIRCLED.get(ch, ch) for ch in text)
    text = _strip_markdown(text)
    text = _URL.sub(_GONE, text)
    text = _EMAIL.sub(_GONE, text)
    text = _BARE_DOMAIN.sub(_GONE, text)
    text = _GONE_LABEL.sub(_GONE, text)
    text = _GONE_JOINER.sub("", text).replace(_GONE, "")
    text = _EMOJI.sub("", text)
    text = _read_numbers(text)
    return _tidy(text)


def shorten(text: str, max_chars: int) -> tuple[str, bool]:
    """Cuts ``text`` to at most ``max_chars`` at a sentence end; says whether it cut."""
    if len(text) <= max_chars:
        return text, False
    head = text[:max_chars]
    end = max(head.rfind(mark) for mark in "。！？；")
    if end >= max_chars * 0.4:
        cut = head[: end + 1]
    else:
        comma = max(head.rfind("，"), head.rfind("、"))
        cut = head[:comma] if comma >= max_chars * 0.4 else head[: max_chars - 1]
    cut = cut.rstrip("，、；：")
    if cut[-1:] not in "。！？":
        cut = cut.rstrip("；") + "。"
    return cut, True


def to_ssml(parts: Sequence[str], language: str = "zh-CN", pause_ms: int = 300) -> str:
    """Wraps spoken parts in one SSML document, with a short pause between parts."""
    pause = f'<break time="{int(pause_ms)}ms"/>'
    body = pause.join(escape(part) for part in parts if part)
    return f'<speak version="1.0" xml:lang="{escape(language)}">{body}</speak>'
