"""Drives the widget on the demo portal the way a resident does (Playwright's CSS selectors reach
into the widget's open shadow root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# WCAG 2.1 contrast of every visible text in the widget against its effective background.
CONTRAST_SCRIPT = Path(__file__).with_name("contrast.js")


class WidgetPage:
    """The demo portal with the widget, in one browser page."""

    def __init__(self, page: Any, portal_url: str) -> None:
        self.page = page
        self.portal_url = portal_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    # --- locators ---------------------------------------------------------------------------

    def q(self, selector: str) -> Any:
        return self.page.locator(f"minsheng-widget {selector}")

    @property
    def bot_messages(self) -> Any:
        return self.q(".msg.bot")

    @property
    def user_messages(self) -> Any:
        return self.q(".msg.user")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def shadow(self, expression: str) -> Any:
        """Evaluates ``expression`` with ``root`` bound to the widget's shadow root."""
        return self.page.evaluate(
            f"() => {{ const root = document.querySelector('minsheng-widget').shadowRoot; "
            f"return ({expression}); }}"
        )

    # --- actions ----------------------------------------------------------------------------

    def goto(self) -> WidgetPage:
        self.page.goto(self.portal_url)
        self.q(".launcher").wait_for(state="visible")
        return self

    def open(self, greeting: bool = True) -> WidgetPage:
        before = self.bot_messages.count()
        self.q(".launcher").click()
        self.q(".panel").wait_for(state="visible")
        if greeting and before == 0:
            self.wait_for_bot(1)
        return self

    def wait_for_bot(self, count: int, timeout: float = 45_000) -> None:
        self.page.wait_for_function(
            "n => document.querySelector('minsheng-widget').shadowRoot"
            ".querySelectorAll('.msg.bot').length >= n",
            arg=count, timeout=timeout,
        )

    def wait_until_idle(self, quiet_ms: int = 1200) -> None:
        """Waits until the typing indicator is gone and no message came for ``quiet_ms``."""
        self.q(".typing").wait_for(state="hidden")
        last = -1
        while True:
            count = self.bot_messages.count()
            if count == last:
                return
            last = count
            self.page.wait_for_timeout(quiet_ms)

    def ask(self, text: str) -> Any:
        """Types ``text``, presses Enter, waits for the replies; returns the first new one."""
        before = self.bot_messages.count()
        self.q("textarea").fill(text)
        self.q("textarea").press("Enter")
        self.wait_for_bot(before + 1)
        self.wait_until_idle()
        return self.bot_messages.nth(before)

    def watch_typing(self) -> None:
        """Counts, from now on, how often the typing indicator is shown (``typing_shown``)."""
        self.shadow("""(() => {
            const typing = root.querySelector('.typing');
            window.__typingShown = 0;
            new MutationObserver(() => { if (!typing.hidden) window.__typingShown += 1; })
                .observe(typing, {attributes: true, attributeFilter: ['hidden']});
        })()""")

    def typing_shown(self) -> int:
        return self.js("window.__typingShown")

    def transport(self) -> str:
        return self.shadow("root.querySelector('.root').getAttribute('data-transport')")

    def stored(self) -> dict[str, Any]:
        """What the widget keeps in localStorage."""
        return self.js("""() => {
            const key = Object.keys(localStorage).find((k) => k.startsWith('minsheng-widget:'));
            return key ? JSON.parse(localStorage.getItem(key)) : null;
        }""")

    def contrast_report(self) -> list[dict[str, Any]]:
        return self.js(CONTRAST_SCRIPT.read_text(encoding="utf-8"))
