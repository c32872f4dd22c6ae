"""WeChat's message push, simulated: signed (and, in 安全模式, encrypted) deliveries to a
channel's webhook, retried the way WeChat retries. Used by the end-to-end tests and the
benchmark; needs wechatpy (the Rasa environment has it).

WeChat's behaviour modelled by :meth:`WeChatPush.deliver`: it POSTs a message and waits 5 s for
the answer; without one it drops the connection and POSTs the same message again (same MsgId,
new signature), up to three attempts in all. Only the answer to the attempt it is still waiting
on is shown to the resident. An attempt's answer can also be *lost* (``lose_answers``), and
``retry_after`` sends the next attempt earlier than 5 s, as after a broken connection, so tests
can make retries arrive while the first attempt is still being processed.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

WECHAT_TIMEOUT = 5.0
_MSG_IDS = itertools.count(int(time.time() * 1000) * 1000)


@dataclass(frozen=True)
class Account:
    """The Official Account as WeChat knows it."""

    token: str
    app_id: str
    encoding_aes_key: str | None = None
    account_id: str = "gh_5a4d1f0e9c11"


def next_msg_id() -> str:
    return str(next(_MSG_IDS))


def _field(name: str, value: str | int | float) -> str:
    if isinstance(value, (int, float)):
        return f"<{name}>{value}</{name}>"
    return f"<{name}><![CDATA[{value}]]></{name}>"


def message_xml(account: Account, openid: str, msg_type: str, *, create_time: int | None = None,
                **fields: str | int | float) -> str:
    """A message or event as WeChat pushes it (``Content=..``, ``Event=..``, ``MsgId=..``)."""
    parts = [
        _field("ToUserName", account.account_id),
        _field("FromUserName", openid),
        _field("CreateTime", int(create_time or time.time())),
        _field("MsgType", msg_type),
        *(_field(name, value) for name, value in fields.items()),
    ]
    return "<xml>" + "".join(parts) + "</xml>"


def text(account: Account, openid: str, content: str, msg_id: str | None = None) -> str:
    return message_xml(account, openid, "text", Content=content, MsgId=msg_id or next_msg_id())


def voice(account: Account, openid: str, recognition: str, msg_id: str | None = None) -> str:
    return message_xml(
        account, openid, "voice", MediaId="media" + secrets.token_hex(8), Format="amr",
        Recognition=recognition, MsgId=msg_id or next_msg_id(),
    )


def location(account: Account, openid: str, latitude: float, longitude: float, label: str,
             msg_id: str | None = None) -> str:
    return message_xml(
        account, openid, "location", Location_X=latitude, Location_Y=longitude, Scale=15,
        Label=label, MsgId=msg_id or next_msg_id(),
    )


def image(account: Account, openid: str, msg_id: str | None = None) -> str:
    return message_xml(
        account, openid, "image", PicUrl="http://mmbiz.qpic.cn/sandbox.jpg",
        MediaId="media" + secrets.token_hex(8), MsgId=msg_id or next_msg_id(),
    )


def event(account: Account, openid: str, name: str, key: str | None = None,
          create_time: int | None = None) -> str:
    fields: dict[str, str | int | float] = {"Event": name}
    if key is not None:
        fields["EventKey"] = key
    return message_xml(account, openid, "event", create_time=create_time, **fields)


@dataclass
class Attempt:
    status: int | None  # None: no answer before WeChat gave up on the attempt
    body: str
    elapsed: float
    shown: str | None = None  # the text the resident sees from this answer
    lost: bool = False  # answered, but the answer never reached WeChat


@dataclass
class DeliveryReport:
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def reply(self) -> str | None:
        """The passive reply the resident sees: the last attempt's, if WeChat took it."""
        return self.attempts[-1].shown if self.attempts else None

    @property
    def first_answer_seconds(self) -> float | None:
        first = self.attempts[0] if self.attempts else None
        return first.elapsed if first is not None and first.status == 200 else None


class WeChatPush:
    """Posts deliveries to ``webhook_url`` as WeChat would, for one Official Account."""

    def __init__(self, webhook_url: str, account: Account, *, encrypted: bool = False) -> None:
        if encrypted and not account.encoding_aes_key:
            raise ValueError("encrypted deliveries need the account's EncodingAESKey")
        self.webhook_url = webhook_url
        self.account = account
        self.encrypted = encrypted

    def _crypto(self) -> Any:
        from wechatpy.crypto import WeChatCrypto

        return WeChatCrypto(self.account.token, self.account.encoding_aes_key, self.account.app_id)

    def sign(self, *, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
        """The query of a plain delivery (or of the URL verification)."""
        from wechatpy.utils import WeChatSigner

        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        signer = WeChatSigner()
        signer.add_data(self.account.token, timestamp, nonce)
        return {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce}

    def envelope(
        self, xml: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Query and body of one delivery attempt: signed, and encrypted in 安全模式."""
        import xmltodict

        query = self.sign(timestamp=timestamp, nonce=nonce)
        query["openid"] = str(xmltodict.parse(xml)["xml"]["FromUserName"])
        if not self.encrypted:
            return query, xml.encode("utf-8")
        sealed = self._crypto().encrypt_message(xml, query["nonce"], query["timestamp"])
        parsed = xmltodict.parse(sealed)["xml"]
        query.update(encrypt_type="aes", msg_signature=parsed["MsgSignature"])
        body = (
            "<xml>"
            f"<ToUserName><![CDATA[{escape(self.account.account_id)}]]></ToUserName>"
            f"<Encrypt><![CDATA[{parsed['Encrypt']}]]></Encrypt>"
            "</xml>"
        )
        return query, body.encode("utf-8")

    def read_answer(self, body: str) -> str | None:
        """The text a passive answer shows (None for ``success`` or empty); in 安全模式 the
        answer's signature is checked and it is decrypted, as WeChat does."""
        import xmltodict

        if not body.strip() or body.strip() == "success":
            return None
        if self.encrypted:
            parsed = xmltodict.parse(body)["xml"]
            body = self._crypto().decrypt_message(
                body, parsed["MsgSignature"], parsed["TimeStamp"], parsed["Nonce"]
            )
        reply = xmltodict.parse(body)["xml"]
        if reply.get("MsgType") != "text":
            raise AssertionError(f"unexpected passive reply type {reply.get('MsgType')!r}")
        if reply.get("ToUserName") is None or reply.get("FromUserName") != self.account.account_id:
            raise AssertionError("passive reply not addressed back to the resident")
        return str(reply.get("Content") or "")

    async def post(
        self, session: Any, xml: str, *, timeout: float = WECHAT_TIMEOUT
    ) -> tuple[int, str]:
        """One attempt; returns the HTTP status and the body."""
        query, body = self.envelope(xml)
        async with session.post(
            self.webhook_url, params=query, data=body,
            headers={"Content-Type": "text/xml"}, timeout=timeout,
        ) as answer:
            return answer.status, await answer.text()

    async def deliver(
        self,
        session: Any,
        xml: str,
        *,
        attempts: int = 3,
        lose_answers: int = 0,
        retry_after: float = WECHAT_TIMEOUT,
        timeout: float = WECHAT_TIMEOUT,
    ) -> DeliveryReport:
        """Delivers ``xml`` the way WeChat does. The answers of the first ``lose_answers``
        attempts never reach WeChat; a lost or unanswered attempt is dropped after
        ``retry_after`` s (5 s, WeChat's timeout, by default) and the next one is sent."""
        report = DeliveryReport()
        for number in range(1, attempts + 1):
            last = number == attempts
            lost = number <= lose_answers and not last
            started = time.perf_counter()
            task = asyncio.ensure_future(self.post(session, xml, timeout=timeout))
            wait = timeout if last else min(retry_after, timeout)
            done, _ = await asyncio.wait({task}, timeout=wait)
            elapsed = time.perf_counter() - started
            if task in done and task.exception() is None:
                status, body = task.result()
                if lost:
                    report.attempts.append(Attempt(status, body, elapsed, lost=True))
                    await asyncio.sleep(max(wait - elapsed, 0))
                    continue
                shown = self.read_answer(body) if status == 200 else None
                report.attempts.append(Attempt(status, body, elapsed, shown))
                return report
            task.cancel()  # WeChat drops the connection
            report.attempts.append(Attempt(None, "", elapsed))
        return report
