"""The content-staff report as one self-contained HTML file (no scripts, no external files).

Charts are drawn with matplotlib as inline SVG whose text stays text (``svg.fonttype =
none``): the browser draws the Chinese with its own fonts, so the report reads right even on a
machine without a CJK font. Where one is installed (Noto Sans CJK from ``fonts-noto-cjk``,
WenQuanYi …), matplotlib also measures with it; without one, the margins are sized from the
labels' character widths. Every text that came from a resident is escaped.
"""

from __future__ import annotations

import html
import io
import logging
import unicodedata
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from knowledge.report import UNSORTED, Report

CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "SimHei"]
CHANNELS = {"rest": "网页接口（REST）", "webchat": "网页聊天", "wechat": "微信公众号",
            "voice": "12345语音", "?": "未知"}
OUTCOMES = {"answer": "已回答", "clarify": "请居民确认", "none": "未回答"}
REASONS = {"request": "居民要求", "repeated_failure": "连续未答出"}
COLORS = {"answer": "#2e7d32", "clarify": "#f9a825", "none": "#c62828", "bar": "#1f5fa8"}
LABEL_CHARS = 18
FONT_SIZE = 9


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _label(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _width_em(text: str) -> float:
    """The width of ``text`` in em: wide (CJK) characters 1, others about 0.6."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in text)


def _setup_matplotlib() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    installed = {f.name for f in font_manager.fontManager.ttflist}
    fonts = [f for f in CJK_FONTS if f in installed]
    plt.rcParams.update({
        "svg.fonttype": "none",
        "font.family": "sans-serif",
        "font.sans-serif": [*fonts, *[f for f in CJK_FONTS if f not in fonts], "DejaVu Sans"],
        "font.size": FONT_SIZE,
        "svg.hashsalt": "minsheng-report",  # the same data gives the same file
    })
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return plt


def _svg(fig: Any, plt: Any) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        warnings.filterwarnings("ignore", message=".*findfont.*")
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def bar_chart(plt: Any, labels: Sequence[str], values: Sequence[int], title: str,
              color: str = COLORS["bar"]) -> str:
    """Horizontal bars, the first label on top; margins sized from the labels."""
    labels = [_label(label) for label in labels]
    rows = max(len(labels), 1)
    label_in = max((_width_em(label) for label in labels), default=1) * FONT_SIZE / 72 + 0.3
    width = 7.5
    height = 0.7 + 0.32 * rows
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes([label_in / width, 0.35 / height, 1 - label_in / width - 0.08,
                       1 - 0.7 / height])
    positions = list(range(rows))[::-1]
    ax.barh(positions, values, color=color, height=0.65)
    ax.set_yticks(positions, labels)
    ax.set_title(title, fontsize=FONT_SIZE + 1, loc="left")
    peak = max(values, default=0) or 1
    for y, value in zip(positions, values, strict=True):
        ax.text(value + peak * 0.01, y, str(value), va="center", fontsize=FONT_SIZE - 1)
    ax.set_xlim(0, peak * 1.12)
    ax.xaxis.set_visible(False)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    return _svg(fig, plt)


def daily_chart(plt: Any, report: Report) -> str:
    days = list(report.by_day)
    fig = plt.figure(figsize=(7.5, 2.6))
    ax = fig.add_axes([0.08, 0.25, 0.9, 0.62])
    bottom = [0] * len(days)
    for outcome in ("answer", "clarify", "none"):
        values = [report.by_day[d].get(outcome, 0) for d in days]
        ax.bar(range(len(days)), values, bottom=bottom, color=COLORS[outcome],
               label=OUTCOMES[outcome], width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(days) // 10)
    ax.set_xticks(range(0, len(days), step), [d[5:] for d in days][::step])
    ax.set_title("每日提问量", fontsize=FONT_SIZE + 1, loc="left")
    ax.legend(loc="upper left", fontsize=FONT_SIZE - 1, frameon=False, ncol=3,
              bbox_to_anchor=(0.25, 1.18))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig, plt)


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei","WenQuanYi Zen Hei",
sans-serif;margin:0;background:#f5f6f8;color:#1d2330;line-height:1.6}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-left:5px solid
#1f5fa8;padding-left:10px}.muted{color:#5b6475;font-size:14px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{flex:1 1 140px;background:#fff;
border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card b{display:block;font-size:26px}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid #e3e6eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7}td.n{text-align:right;white-space:nowrap}
ul.ex{margin:0;padding-left:18px}.chart svg{max-width:100%;height:auto}
.empty{color:#5b6475;font-style:italic}code{font-size:13px}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
                         for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _examples(texts: Sequence[str]) -> str:
    if not texts:
        return '<span class="muted">—</span>'
    return '<ul class="ex">' + "".join(f"<li>{_esc(t)}</li>" for t in texts) + "</ul>"


def _counts(counter: Any, names: dict[str, str] | None = None) -> str:
    return "，".join(f"{_esc((names or {}).get(k, k))} {v}" for k, v in counter.most_common())


def _when(ts: int, tz_offset_hours: int) -> str:
    if not ts:
        return "—"
    zone = timezone(timedelta(hours=tz_offset_hours))
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M")


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def _empty(text: str = "这段时间没有数据。") -> str:
    return f'<p class="empty">{_esc(text)}</p>'


def render_html(report: Report, *, title: str = "民生助手 · 内容运营报告",
                generated: int | None = None, tz_offset_hours: int = 8,
                source: str = "") -> str:
    """The whole report page."""
    plt = _setup_matplotlib()
    generated = generated if generated is not None else int(datetime.now().timestamp())
    when = (f"{_when(report.start, tz_offset_hours)} — {_when(report.end, tz_offset_hours)}"
            if report.start else f"全部数据（截至 {_when(report.end, tz_offset_hours)}）")
    parts = [
        "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="muted">统计时段：{_esc(when)} · 生成于 '
        f"{_esc(_when(generated, tz_offset_hours))}"
        + (f" · 数据来源：{_esc(source)}" if source else "") + "</p>",
    ]
    o = report.outcomes
    handoff_total = sum(report.handoffs.values())
    cards = [("提问总数", report.total), ("已回答", o.get("answer", 0)),
             ("请居民确认", o.get("clarify", 0)),
             ("未回答", f"{o.get('none', 0)}（{_percent(o.get('none', 0), report.total)}）"),
             ("点赞 / 点踩", f"{report.votes.get('up', 0)} / {report.votes.get('down', 0)}"),
             ("转人工", handoff_total)]
    parts.append('<div class="cards">' + "".join(
        f'<div class="card"><span class="muted">{_esc(k)}</span><b>{_esc(v)}</b></div>'
        for k, v in cards) + "</div>")
    if report.empty:
        parts.append(f"<section>{_empty('这段时间没有记录到提问、反馈或转人工。')}</section>")

    # Volumes
    parts.append('<h2 id="volumes">提问量：领域与渠道</h2><section>')
    if report.total:
        parts.append('<div class="chart">' + daily_chart(plt, report) + "</div>")
        areas = report.by_area.most_common()
        channels = report.by_channel.most_common()
        parts.append('<div class="chart">' + bar_chart(
            plt, [a for a, _ in areas], [n for _, n in areas], "各领域提问量") + "</div>")
        parts.append('<div class="chart">' + bar_chart(
            plt, [CHANNELS.get(c, c) for c, _ in channels], [n for _, n in channels],
            "各渠道提问量") + "</div>")
        parts.append(_table(
            ["领域", "提问", "占比"],
            [[_esc(a), str(n), _percent(n, report.total)] for a, n in areas], {1, 2}))
        parts.append(_table(
            ["渠道", "提问", "占比"],
            [[_esc(CHANNELS.get(c, c)), str(n), _percent(n, report.total)] for c, n in channels],
            {1, 2}))
    else:
        parts.append(_empty())
    parts.append("</section>")

    # Top questions
    parts.append(f'<h2 id="top">热门问题（前 {len(report.top) or 0} 个已回答的条目）</h2><section>')
    if report.top:
        parts.append('<div class="chart">' + bar_chart(
            plt, [f"{i}. {t.question}" for i, t in enumerate(report.top, 1)],
            [t.count for t in report.top], "被问最多的知识条目") + "</div>")
        parts.append(_table(
            ["#", "标准问题", "条目", "领域", "次数", "居民的问法"],
            [[str(i), _esc(t.question), f"<code>{_esc(t.kb_id)}</code>", _esc(t.area),
              str(t.count), _examples(t.examples)] for i, t in enumerate(report.top, 1)],
            {0, 4}))
    else:
        parts.append(_empty("这段时间没有已回答的问题。"))
    parts.append("</section>")

    # Unanswered clusters
    parts.append(f'<h2 id="unanswered">未回答的问题（{report.unanswered_total} 次，'
                 f"{len(report.clusters)} 类）</h2><section>")
    if report.clusters:
        parts.append('<p class="muted">相似的问法归为一类（按语义相似度），按次数排序。'
                     "排在前面的类最值得补充知识条目。</p>")
        shown = report.clusters[:20]
        parts.append('<div class="chart">' + bar_chart(
            plt, [f"{i}. {c.representative}" for i, c in enumerate(shown, 1)],
            [c.total for c in shown], "未回答问题（按类）", COLORS["none"]) + "</div>")
        parts.append(_table(
            ["#", "代表问法", "次数", "不同问法", "其他问法", "渠道", "领域", "最近一次"],
            [[str(i), _esc(c.representative), str(c.total), str(len(c.texts)),
              _examples([t for t, _ in c.texts[1:6]]), _counts(c.channels, CHANNELS),
              _counts(c.areas), _esc(_when(c.last_seen, tz_offset_hours))]
             for i, c in enumerate(report.clusters, 1)], {0, 2, 3}))
    else:
        parts.append(_empty("这段时间没有未回答的问题。"))
    parts.append("</section>")

    # Disliked answers
    parts.append(f'<h2 id="feedback">被点踩的答案（{len(report.disliked)} 条）</h2><section>')
    if report.disliked:
        shown_disliked = report.disliked[:20]
        parts.append('<div class="chart">' + bar_chart(
            plt, [f"{i}. {d.question or '（无条目编号）'}" for i, d in
                  enumerate(shown_disliked, 1)],
            [d.down for d in shown_disliked], "点踩最多的答案", COLORS["none"]) + "</div>")
        parts.append(_table(
            ["#", "标准问题", "条目", "领域", "点踩", "点赞", "居民点踩前问的是"],
            [[str(i), _esc(d.question or "（无条目编号）"),
              f"<code>{_esc(d.kb_id)}</code>" if d.kb_id else "—", _esc(d.area or UNSORTED),
              str(d.down), str(d.up), _examples(d.asked)]
             for i, d in enumerate(report.disliked, 1)], {0, 4, 5}))
    else:
        parts.append(_empty("这段时间没有答案被点踩。"))
    parts.append("</section>")

    # Handoffs
    parts.append(f'<h2 id="handoff">转人工（{handoff_total} 次）</h2><section>')
    if report.handoffs:
        parts.append(_table(
            ["渠道", "原因", "次数"],
            [[_esc(CHANNELS.get(c, c)), _esc(REASONS.get(r, r)), str(n)]
             for (c, r), n in report.handoffs.most_common()], {2}))
    else:
        parts.append(_empty("这段时间没有转人工。"))
    parts.append("</section>")

    parts.append('<p class="muted">说明：居民的问题在记录时已去除电话、身份证和银行卡等号码；'
                 "“居民”只以不可逆的编号计数。</p></main></body></html>")
    return "\n".join(parts)
