"""A minimal terminal chat over the REST channel (``scripts/run --shell``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any


def send(url: str, sender: str, text: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Sends one message and returns the bot's messages."""
    body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read().decode("utf-8"))


def render(message: dict[str, Any]) -> str:
    """Text of one bot message, with its buttons numbered."""
    lines = [message.get("text") or ""]
    for number, button in enumerate(message.get("buttons") or [], start=1):
        lines.append(f"  [{number}] {button.get('title')}")
    return "\n".join(line for line in lines if line)


def chat_loop(url: str) -> None:
    sender = f"shell-{uuid.uuid4().hex[:8]}"
    print("Type a message (Chinese is fine); a button's number picks it; Ctrl-D ends.\n")
    buttons: list[dict[str, Any]] = []
    while True:
        try:
            text = input("您: ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not text:
            continue
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = send(url, sender, text)
        except (urllib.error.URLError, OSError) as error:
            print(f"(no answer: {error})")
            continue
        buttons = []
        for message in replies:
            buttons.extend(message.get("buttons") or [])
            print(f"助手: {render(message)}")
