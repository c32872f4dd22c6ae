"""Typed client of WeChat's server API: the access_token and 客服消息 (customer-service text).

Errors::

    WeChatApiError            any failure; ``errcode`` is WeChat's code, or None for HTTP/network
    ├── WeChatApiTimeout      no answer in time: the message may or may not have been sent, so it
    │                         is never re-sent (a duplicate is worse than a late apology)
    └── WeChatApiRejected     WeChat answered with an error code that retrying will not fix

The access_token lives in Redis, shared by every process: one process refreshes it (under a
short lock) when it is missing, and it is stored with a TTL ``margin`` seconds shorter than
WeChat's ``expires_in``, so it is replaced before it expires. A token WeChat calls invalid or
expired (40001, 40014, 42001) is dropped and fetched again once. "System busy" (-1), 5xx and
refused connections are retried twice with a short backoff. One ``aiohttp.ClientSession`` per
client, created on first use. Neither the secret nor the token is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from channels.wechat.store import WeChatStore

logger = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
BUSY_ERRORS = frozenset({-1})
RETRY_DELAYS = (0.2, 0.6)


class WeChatApiError(RuntimeError):
    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class WeChatApiTimeout(WeChatApiError):
    pass


class WeChatApiRejected(WeChatApiError):
    pass


class _Retryable(WeChatApiError):
    pass


class WeChatApi:
    """The calls the channel needs, against ``base_url`` (WeChat's, or the sandbox's)."""

    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_secret: str,
        store: WeChatStore,
        *,
        timeout: float = 5.0,
        token_margin: int = 300,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.store = store
        self.timeout = timeout
        self.token_margin = token_margin
        self._session: Any = None
        self._holder = uuid.uuid4().hex

    async def _http(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": "minsheng-assistant/wechat"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _call(
        self, method: str, path: str, params: dict[str, str], body: bytes | None = None
    ) -> dict[str, Any]:
        """One request. Only failures where WeChat surely did not act are :class:`_Retryable`
        for a send (no connection, "system busy"); a GET is also retried on 5xx and
        disconnects."""
        import aiohttp

        idempotent = method == "GET"
        session = await self._http()
        headers = {"Content-Type": "application/json; charset=utf-8"} if body else None
        try:
            async with session.request(
                method, f"{self.base_url}{path}", params=params, data=body, headers=headers
            ) as reply:
                if reply.status >= 500:
                    error_type = _Retryable if idempotent else WeChatApiError
                    raise error_type(f"{path}: HTTP {reply.status}")
                if reply.status != 200:
                    raise WeChatApiRejected(f"{path}: HTTP {reply.status}")
                data = await reply.json(content_type=None)
        except asyncio.TimeoutError:
            raise WeChatApiTimeout(f"{path}: no answer within {self.timeout} s") from None
        except aiohttp.ClientConnectorError as error:
            raise _Retryable(f"{path}: cannot connect ({error.__class__.__name__})") from None
        except aiohttp.ClientConnectionError as error:
            error_type = _Retryable if idempotent else WeChatApiTimeout
            raise error_type(f"{path}: connection lost ({error.__class__.__name__})") from None
        except (aiohttp.ContentTypeError, json.JSONDecodeError, UnicodeDecodeError):
            raise WeChatApiRejected(f"{path}: answer is not JSON") from None
        if not isinstance(data, dict):
            raise WeChatApiRejected(f"{path}: answer is not a JSON object")
        errcode = data.get("errcode", 0)
        if errcode in BUSY_ERRORS:
            raise _Retryable(f"{path}: system busy", errcode)
        if errcode:
            raise WeChatApiRejected(f"{path}: errcode {errcode} {data.get('errmsg', '')}",
                                    int(errcode))
        return data

    async def _with_retries(
        self, method: str, path: str, params: dict[str, str], body: bytes | None = None
    ) -> dict[str, Any]:
        for delay in (*RETRY_DELAYS, None):
            try:
                return await self._call(method, path, params, body)
            except _Retryable as error:
                if delay is None:
                    raise WeChatApiError(str(error), error.errcode) from None
                logger.warning("wechat api: %s; retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _fetch_token(self) -> tuple[str, int]:
        data = await self._with_retries(
            "GET",
            "/cgi-bin/token",
            {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret},
        )
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatApiRejected("/cgi-bin/token: answer without access_token")
        return token, expires_in

    async def access_token(self) -> str:
        """The shared access_token, fetched by one process when Redis has none."""
        token = await self.store.cached_token(self.app_id)
        if token:
            return token
        for _ in range(100):  # another process holds the lock: wait for its token, ≤ 5 s
            if await self.store.lock_token_refresh(self.app_id, self._holder):
                try:
                    token = await self.store.cached_token(self.app_id)
                    if token:
                        return token
                    token, expires_in = await self._fetch_token()
                    ttl = max(expires_in - self.token_margin, min(expires_in, 60))
                    await self.store.store_token(self.app_id, token, ttl)
                    logger.info("wechat api: new access_token, kept for %d s", ttl)
                    return token
                finally:
                    await self.store.unlock_token_refresh(self.app_id, self._holder)
            await asyncio.sleep(0.05)
            token = await self.store.cached_token(self.app_id)
            if token:
                return token
        raise WeChatApiError("access_token: another process holds the refresh lock too long")

    async def send_text(self, openid: str, content: str) -> None:
        """Sends one 客服消息 text; the token is refreshed once if WeChat rejects it."""
        body = json.dumps(
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
            ensure_ascii=False,  # WeChat shows \\uXXXX escapes literally
        ).encode("utf-8")
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                await self._with_retries(
                    "POST", "/cgi-bin/message/custom/send", {"access_token": token}, body
                )
                return
            except WeChatApiRejected as error:
                if error.errcode in TOKEN_ERRORS and attempt == 1:
                    logger.warning("wechat api: access_token rejected (%s); refreshing",
                                   error.errcode)
                    await self.store.drop_token(self.app_id, token)
                    continue
                raise
