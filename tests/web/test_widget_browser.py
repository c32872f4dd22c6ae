"""The web chat widget in a real browser (Debian's chromium, headless) on the demo portal, talking
to a real stack (Rasa, action server, backends, Redis). Screenshots: test-output/web/."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import redis

from tests.conftest import TEST_REDIS_URL
from tests.support import as_sent, default_text, domain
from tests.web.conftest import DESKTOP, PHONE, kb_entry, screenshot
from tests.web.widget_page import WidgetPage

pytestmark = pytest.mark.browser

PAYLOAD_IMG = '<img src=x onerror="window.__xss=\'user-img\'">'
PAYLOAD_SCRIPT = "<script>window.__xss='user-script'</script>"


def widget(browser, web_stack, viewport=DESKTOP) -> WidgetPage:
    context = browser(viewport=viewport)
    return WidgetPage(context.pages[0] if context.pages else context.new_page(),
                      web_stack.portal_url)


def feedback_entries(prefix: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        return [fields for _, fields in client.xrange(f"{prefix}:app:feedback")]
    finally:
        client.close()


def tracker_events(prefix: str, session_id: str) -> list[dict]:
    """The conversation's events as Rasa stored them (the tracker store in Redis)."""
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        raw = client.get(f"{prefix}:tracker:{session_id}")
    finally:
        client.close()
    return json.loads(raw)["events"] if raw else []


def block_socketio(page) -> None:
    """What a proxy that blocks websockets and socket.io does: every socket.io request fails."""
    page.route_web_socket(re.compile(r".*/socket\.io/.*"), lambda ws: ws.close())
    page.route(re.compile(r".*/socket\.io/.*"), lambda route: route.abort())


def test_a_knowledge_question_is_answered_with_its_source(browser, web_stack, answered_question):
    w = widget(browser, web_stack).goto().open()
    assert w.bot_messages.first.locator(".bubble").inner_text().startswith(
        default_text("utter_greet"))
    assert w.transport() == "socket"
    assert w.q(".status").inner_text() == "在线"

    w.watch_typing()
    answer = w.ask(answered_question)
    assert w.typing_shown() >= 1  # the typing indicator showed while the answer was coming
    assert w.q(".typing").is_hidden()
    assert w.user_messages.last.locator(".bubble").inner_text() == answered_question
    citation = answer.locator(".citation")
    assert citation.count() == 1
    cited = citation.inner_text().strip()
    assert cited.startswith("依据：")
    try:  # the citation names the source of the very entry that answered
        source = kb_entry(answer.get_attribute("data-kb-id"))["source"]
    except KeyError:  # a passage of a policy document: its source line has the same shape
        assert re.match(r"^依据：《.+》（.+发布.*）$", cited), cited
    else:
        assert f"《{source['title']}》" in cited and f"（{source['issuer']}发布" in cited, cited
    body = answer.locator(".bubble > .text").all_inner_texts()
    assert body and len("".join(body)) > 20
    assert not any("依据：" in part for part in body)  # the source is its own line, not body text
    assert answer.get_attribute("data-kb-id")
    assert answer.get_attribute("data-message-id")
    assert answer.locator("button.feedback").count() == 2
    for link in answer.locator("a").all():  # "详情：" links carry their title (channel: webchat)
        assert link.get_attribute("href").startswith(("https://", "http://"))
        assert not link.inner_text().startswith("http")
    screenshot(w.page, "knowledge-answer-desktop")
    assert w.errors == []


def test_a_suggestion_button_asks_the_suggested_question(browser, web_stack, ambiguous_question):
    w = widget(browser, web_stack).goto().open()
    # The greeting's menu buttons are suggestions too: one answers from the domain.
    greeting = as_sent(next(v for v in domain()["responses"]["utter_greet"]
                            if "channel" not in v))
    menu = w.bot_messages.first.locator(".chip")
    assert menu.all_inner_texts() == [b["title"] for b in greeting["buttons"]]
    chosen = greeting["buttons"][1]
    area = json.loads(chosen["payload"][chosen["payload"].index("{"):])["area"]
    condition = {"type": "slot", "name": "area", "value": area}
    intro = next(v["text"] for v in domain()["responses"]["utter_area_intro"]
                 if condition in v.get("condition", []))
    menu.nth(1).click()
    w.wait_for_bot(2)
    w.wait_until_idle()
    assert w.user_messages.last.locator(".bubble").inner_text() == chosen["title"]
    assert w.bot_messages.nth(1).locator(".bubble").inner_text().startswith(intro)
    assert menu.nth(1).get_attribute("aria-pressed") == "true"
    assert menu.nth(0).is_disabled()

    clarification = w.ask(ambiguous_question)
    assert clarification.locator(".text").first.inner_text() == default_text(
        "utter_knowledge_clarify")
    chips = clarification.locator(".chip")
    assert 3 <= chips.count() <= 4  # two or three entries, then "none of these": an agent
    assert chips.last.inner_text() == default_text("utter_knowledge_clarify_human")
    suggested = chips.first.inner_text()
    before = w.bot_messages.count()
    screenshot(w.page, "clarification-desktop")
    chips.first.click()
    w.wait_for_bot(before + 1)
    w.wait_until_idle()
    assert w.user_messages.last.locator(".bubble").inner_text() == suggested
    answer = w.bot_messages.nth(before)
    assert answer.locator(".citation").inner_text().strip().startswith("依据：")
    assert chips.first.get_attribute("aria-pressed") == "true"
    assert w.errors == []


def test_feedback_is_recorded_by_the_server(browser, web_stack, answered_question):
    w = widget(browser, web_stack).goto().open()
    answer = w.ask(answered_question)
    session_id = w.stored()["sessionId"]
    before = feedback_entries(web_stack.prefix)

    answer.locator("button.feedback.up").click()
    w.page.wait_for_function(
        "() => document.querySelector('minsheng-widget').shadowRoot"
        ".querySelector('.thanks').textContent.length > 0")
    assert answer.locator(".thanks").inner_text() == "感谢您的反馈"
    assert answer.locator("button.feedback.up").get_attribute("aria-pressed") == "true"
    entries = feedback_entries(web_stack.prefix)
    assert len(entries) == len(before) + 1
    entry = entries[-1]
    assert entry["rating"] == "up"
    assert entry["kb_id"] == answer.get_attribute("data-kb-id")
    assert entry["message"] == answer.get_attribute("data-message-id")
    assert entry["resident"] == hashlib.sha256(session_id.encode()).hexdigest()[:16]
    assert entry["channel"] == "webchat"

    answer.locator("button.feedback.up").click()  # the same vote again: nothing new
    w.page.wait_for_timeout(500)
    assert len(feedback_entries(web_stack.prefix)) == len(entries)

    answer.locator("button.feedback.down").click()  # a changed mind is recorded as a change
    w.page.wait_for_function(
        "() => document.querySelector('minsheng-widget').shadowRoot"
        ".querySelector('button.feedback.down').getAttribute('aria-pressed') === 'true'")
    changed = feedback_entries(web_stack.prefix)[-1]
    assert (changed["rating"], changed["replaces"]) == ("down", "up")
    screenshot(w.page, "feedback-desktop")


def test_the_conversation_survives_a_reload(browser, web_stack, answered_question):
    w = widget(browser, web_stack).goto().open()
    w.ask(answered_question)
    session_id = w.stored()["sessionId"]
    texts = w.q(".msg").all_inner_texts()
    assert len(texts) >= 3

    w.page.reload()
    w.q(".panel").wait_for(state="visible")  # it was open: it opens again
    assert w.q(".msg").all_inner_texts() == texts
    assert w.q(".msg.bot .citation").count() >= 1
    w.page.wait_for_function(
        "() => document.querySelector('minsheng-widget').shadowRoot"
        ".querySelector('.root').getAttribute('data-transport') === 'socket'")
    assert w.stored()["sessionId"] == session_id
    screenshot(w.page, "history-after-reload-desktop")

    w.ask("谢谢")
    events = tracker_events(web_stack.prefix, session_id)
    said = [e["text"] for e in events if e["event"] == "user"]
    assert said[-2:] == [answered_question, "谢谢"]  # one conversation across the reload
    assert {e.get("input_channel") for e in events if e["event"] == "user"} == {"webchat"}


def test_elderly_mode_has_large_text_high_contrast_and_reads_aloud(
    browser, web_stack, answered_question
):
    context = browser(viewport=DESKTOP)
    # Record what is given to the browser's speech synthesis (and still speak it).
    context.add_init_script("""
        window.__spoken = [];
        if (window.speechSynthesis) {
          const speak = window.speechSynthesis.speak.bind(window.speechSynthesis);
          window.speechSynthesis.speak = (u) => { window.__spoken.push(u.text); speak(u); };
        }
    """)
    w = WidgetPage(context.pages[0], web_stack.portal_url).goto().open()
    answer = w.ask(answered_question)

    standard = w.contrast_report()
    low = [r for r in standard if r["ratio"] < (3.0 if r["large"] else 4.5)]
    assert low == [], f"texts under WCAG AA contrast in the standard mode: {low}"
    text_size = float(w.shadow("getComputedStyle(root.querySelector('.msg.bot .text')).fontSize"
                               ).removesuffix("px"))
    assert 14 <= text_size < 20
    assert answer.locator("button.read").is_hidden()
    screenshot(w.page, "standard-mode-desktop")

    w.q(".elder-toggle").click()
    assert w.q(".elder-toggle").get_attribute("aria-pressed") == "true"
    elder = w.contrast_report()
    low = [r for r in elder if r["ratio"] < 7.0]
    assert low == [], f"texts under 7:1 in the elderly mode: {low}"
    assert all(r["ratio"] >= 4.5 for r in elder)
    small = [r for r in elder if r["size"] < 20]
    assert small == [], f"texts under 20px in the elderly mode: {small}"
    for selector in ("button.send", ".chip", "button.human", "button.feedback", ".elder-toggle"):
        box = w.q(selector).first.bounding_box()
        assert box is not None and box["height"] >= 44, selector
    screenshot(w.page, "elderly-mode-desktop")

    read = answer.locator("button.read")
    assert read.is_visible()
    read.click()
    spoken = w.js("window.__spoken")
    assert len(spoken) == 1
    assert spoken[0].startswith(answer.locator(".text").first.inner_text()[:10])
    w.page.reload()  # the choice is kept
    w.q(".panel").wait_for(state="visible")
    assert w.q(".elder-toggle").get_attribute("aria-pressed") == "true"


def test_without_speech_synthesis_there_is_no_read_aloud_button(browser, web_stack):
    context = browser()
    context.add_init_script("""
        for (const name of ['speechSynthesis', 'SpeechSynthesisUtterance']) {
          Object.defineProperty(window, name, {value: undefined, configurable: true});
        }
    """)
    w = WidgetPage(context.pages[0], web_stack.portal_url).goto().open()
    assert w.js("typeof window.speechSynthesis") == "undefined"
    w.q(".elder-toggle").click()
    assert w.q(".elder-toggle").get_attribute("aria-pressed") == "true"
    assert w.bot_messages.first.locator("button.read").is_hidden()
    assert w.errors == []


def test_phones_get_a_full_screen_panel_in_both_modes(browser, web_stack, answered_question):
    context = browser(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3)
    w = WidgetPage(context.pages[0], web_stack.portal_url).goto()
    screenshot(w.page, "portal-phone")
    w.open()
    w.ask(answered_question)
    box = w.q(".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}
    assert w.q(".launcher").is_hidden()
    screenshot(w.page, "knowledge-answer-phone")
    w.q(".elder-toggle").click()
    assert float(w.shadow("getComputedStyle(root.querySelector('.msg.bot .text')).fontSize"
                          ).removesuffix("px")) >= 20
    screenshot(w.page, "elderly-mode-phone")


def test_html_from_the_resident_or_an_answer_is_shown_as_text(browser, web_stack):
    context = browser()
    page = context.pages[0]
    block_socketio(page)  # the REST fallback, so one real answer can be tampered with in flight

    def tamper(route):
        reply = route.fetch()
        messages = reply.json()
        messages[0]["text"] = (
            messages[0].get("text", "")
            + "\n<b>粗体</b><img src=x onerror=\"window.__xss='answer'\">"
            "\n[点我](javascript:window.__xss='link') 详情：https://www.beijing.gov.cn/"
        )
        messages[0]["buttons"] = [{"title": "<i>按钮</i>", "payload": "/greet"},
                                  {"title": "坏链接", "url": "javascript:window.__xss='button'"}]
        messages[0]["image"] = "javascript:window.__xss='image'"
        messages.append({"attachment": {"type": "image",
                                        "payload": {"src": "https://www.beijing.gov.cn/x.png"}}})
        route.fulfill(response=reply, json=messages)

    page.route(re.compile(r".*/webhooks/rest/webhook$"), tamper)
    w = WidgetPage(page, web_stack.portal_url).goto().open()
    w.ask(PAYLOAD_IMG)
    w.ask(PAYLOAD_SCRIPT)
    w.page.wait_for_timeout(500)

    assert w.q(".msg.user .bubble").all_inner_texts()[-2:] == [PAYLOAD_IMG, PAYLOAD_SCRIPT]
    assert w.js("window.__xss") is None
    log = w.shadow("root.querySelector('.log').innerHTML")
    assert "&lt;img src=x onerror=" in log and "&lt;script&gt;" in log
    assert w.shadow("root.querySelectorAll('.log script, .log [onerror], .log b, .log i').length"
                    ) == 0
    assert "&lt;b&gt;粗体&lt;/b&gt;" in log and "&lt;i&gt;按钮&lt;/i&gt;" in log
    hrefs = w.shadow("[...root.querySelectorAll('.log a')].map((a) => a.href)")
    assert "https://www.beijing.gov.cn/" in hrefs
    assert all(h.startswith(("https://", "http://")) for h in hrefs)
    srcs = w.shadow("[...root.querySelectorAll('.log img')].map((i) => i.src)")
    assert srcs and all(s == "https://www.beijing.gov.cn/x.png" for s in srcs)
    assert "[点我](javascript:" in log
    assert w.q(".chip").filter(has_text="坏链接").count() == 0  # a javascript: URL is dropped
    assert w.q(".chip").filter(has_text="<i>按钮</i>").count() >= 1
    screenshot(w.page, "xss-as-text-desktop")


def test_without_websockets_socketio_polls(browser, web_stack, answered_question):
    """A proxy that lets HTTP through but not websockets: socket.io's long-polling carries the
    conversation (same events, same session), not the REST fallback."""
    context = browser()
    page = context.pages[0]
    page.route_web_socket(re.compile(r".*/socket\.io/.*"), lambda ws: ws.close())
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "transport=polling" in r.url else None)
    w = WidgetPage(page, web_stack.portal_url).goto().open()
    assert w.transport() == "socket"
    answer = w.ask(answered_question)
    assert answer.locator(".citation").inner_text().startswith("依据：")
    assert answer.get_attribute("data-message-id")  # a bot_uttered event, not a REST reply
    assert polls
    said = [e["text"] for e in tracker_events(web_stack.prefix, w.stored()["sessionId"])
            if e["event"] == "user"]
    assert said == ["/greet", answered_question]
    assert w.errors == []


def test_the_widget_falls_back_to_rest_when_socketio_is_blocked(
    browser, web_stack, answered_question
):
    context = browser()
    page = context.pages[0]
    block_socketio(page)
    w = WidgetPage(page, web_stack.portal_url).goto().open()  # the greeting comes over REST
    assert w.transport() == "rest"
    assert w.q(".status").inner_text() == "在线（备用通道）"
    answer = w.ask(answered_question)
    assert answer.locator(".citation").inner_text().startswith("依据：")
    assert answer.get_attribute("data-message-id") is None

    answer.locator("button.feedback.down").click()  # no message id over REST: the answer's hash
    w.page.wait_for_function(
        "() => document.querySelector('minsheng-widget').shadowRoot"
        ".querySelector('button.feedback.down').getAttribute('aria-pressed') === 'true'")
    entry = feedback_entries(web_stack.prefix)[-1]
    assert entry["rating"] == "down" and re.fullmatch(r"h-[0-9a-f]{14}", entry["message"])
    screenshot(w.page, "rest-fallback-desktop")


def test_the_widget_reconnects_on_its_own(browser, web_stack, answered_question):
    """The network drops the websocket: the widget says it is reconnecting, socket.io reconnects
    by itself, the widget asks for the same session again and the conversation goes on."""
    context = browser()
    page = context.pages[0]
    sockets = []

    def through(ws):  # every socket.io websocket goes to the server, and can be cut
        sockets.append((ws, ws.connect_to_server()))

    def websockets(count: int) -> None:  # socket.io upgrades to a websocket after connecting
        for _ in range(100):
            if len(sockets) >= count:
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"{len(sockets)} websockets, expected {count}")

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), through)
    w = WidgetPage(page, web_stack.portal_url).goto().open()
    assert w.transport() == "socket"
    session_id = w.stored()["sessionId"]
    websockets(1)
    page.wait_for_timeout(500)  # the upgrade completes

    ws, server = sockets[0]
    server.close()
    ws.close(code=1001, reason="network lost")
    w.page.wait_for_function(
        "() => document.querySelector('minsheng-widget').shadowRoot"
        ".querySelector('.root').getAttribute('data-transport') !== 'socket'")
    assert w.q(".status").inner_text() in ("连接中断，正在重新连接…", "在线")
    w.page.wait_for_function(
        "() => document.querySelector('minsheng-widget').shadowRoot"
        ".querySelector('.root').getAttribute('data-transport') === 'socket'", timeout=20_000)
    websockets(2)  # a new connection, opened by the widget itself
    assert w.q(".status").inner_text() == "在线"

    answer = w.ask(answered_question)
    assert answer.locator(".citation").inner_text().startswith("依据：")
    assert answer.get_attribute("data-message-id")  # came over socket.io, not REST
    assert w.stored()["sessionId"] == session_id
    said = [e["text"] for e in tracker_events(web_stack.prefix, session_id)
            if e["event"] == "user"]
    assert said == ["/greet", answered_question]  # one conversation across the reconnection
    screenshot(w.page, "reconnected-desktop")
    assert w.errors == []


def test_the_human_agent_button(browser, web_stack):
    """转人工 sends /request_human: Rasa reads the request_human intent and answers with the
    handoff's response (which one depends on the agent desk and its hours, so the test reads
    the answer's response name from the tracker rather than fixing the wording)."""
    w = widget(browser, web_stack).goto().open()
    human = w.q("button.human")
    assert human.inner_text() == "转人工" and human.is_visible()
    human.click()
    w.wait_for_bot(2)
    w.wait_until_idle()
    assert w.user_messages.last.locator(".bubble").inner_text() == "转人工"

    events = tracker_events(web_stack.prefix, w.stored()["sessionId"])
    last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
    assert events[last_user]["text"] == "/request_human"
    assert events[last_user]["parse_data"]["intent"]["name"] == "request_human"
    replies = [e for e in events[last_user:] if e["event"] == "bot"]
    assert replies, "no answer to /request_human"
    assert replies[0]["metadata"].get("utter_action", "").startswith("utter_human_")
    shown = w.bot_messages.nth(1).locator(".bubble").inner_text()
    assert shown.startswith(replies[0]["text"].split("\n")[0])
    screenshot(w.page, "human-agent-desktop")
    assert w.errors == []


def test_keyboard_only_use(browser, web_stack):
    w = widget(browser, web_stack).goto()
    launcher = w.q(".launcher")
    assert launcher.get_attribute("aria-expanded") == "false"
    launcher.focus()
    w.page.keyboard.press("Enter")
    w.q(".panel").wait_for(state="visible")
    w.wait_for_bot(1)
    focused = "() => document.querySelector('minsheng-widget').shadowRoot.activeElement.className"
    assert w.js(focused) == "input"
    w.page.keyboard.type("你好")
    w.page.keyboard.press("Shift+Enter")  # a new line, not a send
    assert w.q("textarea").input_value() == "你好\n"
    w.page.keyboard.press("Enter")
    w.wait_for_bot(2)
    assert w.q("textarea").input_value() == ""
    w.page.keyboard.press("Tab")
    assert w.js(focused) == "send"
    w.page.keyboard.press("Tab")
    assert w.js(focused) == "human"
    w.page.keyboard.press("Shift+Tab")
    w.page.keyboard.press("Shift+Tab")
    w.page.keyboard.press("Escape")
    assert w.q(".panel").is_hidden()
    assert w.js(focused) == "launcher"
    assert launcher.get_attribute("aria-expanded") == "false"
    assert w.q(".log").get_attribute("aria-live") == "polite"
    assert w.q(".log").get_attribute("role") == "log"
    assert w.q("textarea").get_attribute("id") == w.q("label").get_attribute("for")


def test_the_portal_and_the_widget_keep_their_own_styles(browser, web_stack):
    probes = {
        "h1": ".masthead h1", "h2": ".news h2", "p": ".headline p", "button": ".search button",
        "a": ".mainnav a", "tile": ".tile", "body": "body", "input": ".search input",
    }
    props = ["font-family", "font-size", "color", "background-color", "border-radius",
             "padding-top", "margin-top", "line-height", "display", "box-sizing"]
    script = """([probes, props]) => Object.fromEntries(Object.entries(probes).map(([k, s]) => {
        const style = getComputedStyle(document.querySelector(s));
        return [k, Object.fromEntries(props.map((p) => [p, style.getPropertyValue(p)]))];
    }))"""
    context = browser()
    bare = context.new_page()
    bare.route(re.compile(r".*/widget\.js$"), lambda route: route.abort())
    bare.goto(web_stack.portal_url)
    without_widget = bare.evaluate(script, [probes, props])

    w = WidgetPage(context.pages[0], web_stack.portal_url).goto().open()
    assert w.js(script, [probes, props]) == without_widget

    # The portal's global rules (`* {font-family: SimSun !important}`, `button {border-radius:
    # 0 !important}`, `[hidden] {display: block !important}`, `svg {width: 4rem !important}`,
    # `p {text-indent: 2em !important}`, html 10px) do not reach inside the widget.
    style = "(s, p) => getComputedStyle(root.querySelector(s)).getPropertyValue(p)"
    check = lambda selector, prop: w.shadow(f"({style})('{selector}', '{prop}')")  # noqa: E731
    assert "SimSun" not in check(".root", "font-family")
    assert check("button.send", "border-radius") == "10px"
    assert check(".typing", "display") == "none"
    assert check(".msg.bot .text", "text-indent") == "0px"
    assert check(".msg.bot .text", "font-size") == "15px"
    assert float(check("button.human svg", "width").removesuffix("px")) < 30
    # Nothing leaks into the page: no global `io`, no extra style sheets.
    assert w.js("typeof window.io") == "undefined"
    assert w.js("typeof window.MinshengWidget.init") == "function"
    assert w.js("document.styleSheets.length") == 1
    assert w.errors == []


@pytest.mark.parametrize("primary", ["#1f5fa8", "#b3261e", "#f5c400", "#a0d8ef", "#ffffff",
                                     "#000000", "#2e7d32", "not-a-colour"])
def test_any_brand_colour_keeps_the_contrast(browser, web_stack, primary):
    w = widget(browser, web_stack).goto()
    ratios = w.js("""(primary) => {
        const c = window.MinshengWidget._contrast;
        const out = {};
        for (const elder of [false, true]) {
          const p = window.MinshengWidget._palette(primary, elder);
          out[elder ? 'elder' : 'standard'] = [c(p.primary, p.onPrimary), c(p.link, '#ffffff'),
                                               c(p.link, '#e6ebf2'), c(p.link, '#f1f4f8')];
        }
        return out;
    }""", primary)
    assert min(ratios["standard"]) >= 4.5, ratios
    assert min(ratios["elder"]) >= 7.0, ratios


def test_a_minimal_page_embeds_it_in_english(browser, web_stack):
    """/minimal.html: one script tag and one init call (language, title, position, colour) on
    a bare page of another origin than the assistant; no serverUrl: it is where widget.js
    came from."""
    w = WidgetPage(browser().pages[0], web_stack.portal_url + "minimal.html").goto()
    assert w.q(".launcher").inner_text() == "Chat with us"
    assert w.q(".launcher").bounding_box()["x"] < 100  # position: left
    w.open()
    assert w.q(".title").inner_text() == "Ask the district"
    assert w.q("textarea").get_attribute("placeholder") == "Type your question"
    assert w.q("button.send").inner_text() == "Send"
    assert w.q("button.human").inner_text() == "Talk to a person"
    assert w.transport() == "socket"  # serverUrl defaults to where widget.js came from
    # The assistant's own words stay Chinese: they come from the domain, not the widget.
    assert w.bot_messages.first.locator(".bubble").inner_text().startswith(
        default_text("utter_greet"))
    # A CORS read of the widget from the portal's origin works (one Access-Control-Allow-Origin).
    status = w.js("(url) => fetch(url, {mode: 'cors'}).then((r) => r.status)",
                  f"{web_stack.rasa_url}/webhooks/webchat/widget.js")
    assert status == 200
    screenshot(w.page, "minimal-page-english-desktop")
    assert w.errors == []
