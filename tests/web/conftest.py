"""The demo portal in front of the session's stack (tests/conftest.py's ``assistant``: sandbox
backends, action server and Rasa on free ports, under their own Redis key prefix), Debian's
chromium driven by Playwright, and helpers to drive the widget and find questions with a known
outcome.

Chromium is /usr/bin/chromium (or CHROMIUM_BIN), installed by scripts/test (ensure_chromium);
Playwright never downloads a browser. Screenshots go to test-output/web/.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output" / "web"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class WebStack:
    rasa_url: str
    portal_url: str
    prefix: str

    @property
    def rest_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    def ask_rest(self, text: str, sender: str | None = None) -> list[dict[str, Any]]:
        """One turn over the REST channel (used to find questions, never by the widget tests'
        assertions about the widget itself)."""
        body = json.dumps({"sender": sender or "probe-" + secrets.token_hex(6), "message": text})
        request = urllib.request.Request(
            self.rest_url, data=body.encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read())


@pytest.fixture(scope="session")
def web_stack(assistant: Any) -> Iterator[WebStack]:
    """The session's stack (``assistant`` in tests/conftest.py: backends, action server, Rasa
    under their own Redis prefix) and, in front of it, the demo portal as ``scripts/run``
    starts it (the portal service of :func:`stack.assistant.build_services`)."""
    from stack.assistant import build_services
    from stack.processes import free_port

    config = assistant.config
    with_portal = dataclasses.replace(
        config, ports=dataclasses.replace(config.ports, portal=free_port()))
    portal = build_services(with_portal)[-1]
    assert portal.name == "demo portal"
    portal.start()
    try:
        portal.wait_healthy(60)
        yield WebStack(
            rasa_url=assistant.rasa_url,
            portal_url=f"http://127.0.0.1:{with_portal.ports.portal}/",
            prefix=assistant.prefix,
        )
    finally:
        portal.stop()


# --- questions with a known outcome ----------------------------------------------------------


def _eval_questions(outcome: str) -> list[str]:
    questions = []
    for path in sorted((ROOT / "knowledge" / "eval").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                if item.get("expect") == outcome:
                    questions.append(item["q"])
    return questions


def _standard_questions() -> list[str]:
    import yaml

    questions = []
    for path in sorted((ROOT / "knowledge" / "kb").glob("*/*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        questions += [e["question"] for e in data.get("entries") or [] if e.get("question")]
    return questions


def is_answer(messages: list[dict[str, Any]]) -> bool:
    return bool(messages) and any(
        line.startswith("依据：") for line in (messages[0].get("text") or "").splitlines())


def is_clarification(messages: list[dict[str, Any]]) -> bool:
    return bool(messages) and any(
        (b.get("payload") or "").startswith("/ask_question{")
        for b in messages[0].get("buttons") or []
    )


# The question a resident asks first in the README; the tests use it when this stack answers
# it with a source (the model and the knowledge base change with other work), else the first of
# the knowledge base's own standard questions that is answered.
PREFERRED_QUESTION = "养老助残卡怎么办"


@pytest.fixture(scope="session")
def answered_question(web_stack: WebStack) -> str:
    """A question the knowledge base answers (with a source line) on this stack."""
    for question in [PREFERRED_QUESTION, *_standard_questions()[:40]]:
        if is_answer(web_stack.ask_rest(question)):
            return question
    pytest.fail("none of the knowledge base's standard questions got an answer with a source")


def kb_entry(kb_id: str) -> dict[str, Any]:
    """A knowledge entry by id, with its file's defaults (source, effective date) filled in."""
    import yaml

    for path in sorted((ROOT / "knowledge" / "kb").glob("*/*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        defaults = data.get("defaults") or {}
        for entry in data.get("entries") or []:
            if entry.get("id") == kb_id:
                source = {**(defaults.get("source") or {}), **(entry.get("source") or {})}
                return {**defaults, **entry, "source": source}
    raise KeyError(kb_id)


@pytest.fixture(scope="session")
def ambiguous_question(web_stack: WebStack) -> str:
    """A question answered with a clarification (suggested questions) on this stack: the first
    of the evaluation set's `expect: clarify` questions that is."""
    for question in _eval_questions("clarify")[:40]:
        if is_clarification(web_stack.ask_rest(question)):
            return question
    pytest.fail("none of the evaluation set's clarify questions got suggested questions")


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test (ensure_chromium installs Debian's "
                    "chromium) or set CHROMIUM_BIN")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture
def browser(playwright: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Opens a fresh chromium profile (its own user-data dir: empty localStorage)."""
    contexts: list[Any] = []

    def launch(viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{len(contexts)}"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=viewport,
            locale="zh-CN",
            **options,
        )
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context

    yield launch
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
