"""Log records without personal numbers in clear.

:class:`PiiFilter` masks a record in place (its message, a formatted traceback, a stack) with
:func:`privacy.detect.mask_text`; it can be attached to a handler (``logging.config`` accepts
``{"()": "privacy.PiiFilter"}``). :func:`install_log_masking` is what the processes call once at
start-up: it applies the filter to every record the process creates, through the log record
factory, and also attaches it to the root logger's handlers.

Why the factory as well as a filter: a filter on a handler misses the handlers libraries add
later (Sanic, Rasa and aiohttp configure their own), and a filter on a logger does not see the
records of its child loggers. The factory runs once for every record of every logger, before
any handler. Records that are never emitted (below the level) are never created, so this costs
nothing for them.

Not covered: ``extra`` attributes a library adds after the record is made (Sanic's access log
line; it holds the URL path, which carries no personal data here) and text written to
stdout/stderr without ``logging``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from privacy.detect import mask_text

_FORMATTER = logging.Formatter()
# Non-ASCII characters escaped by a JSON renderer (Rasa's structlog lines): written out, so that
# spoken digits (一三八…) are seen and Chinese is readable; ASCII escapes (quotes, control
# characters) and surrogates stay escaped, so a JSON line stays valid JSON.
_JSON_ESCAPE = re.compile(r"(?<!\\)\\u([0-9a-fA-F]{4})")


def _unescape(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return match.group(0) if code < 0x80 or 0xD800 <= code <= 0xDFFF else chr(code)
_MASKED = "_pii_masked"
_installed = False


def mask_record(record: logging.LogRecord) -> None:
    """Masks ``record`` in place, once."""
    if getattr(record, _MASKED, False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken %-format: logging itself reports it later
        message = None
    if message is not None:
        if "\\u" in message:
            message = _JSON_ESCAPE.sub(_unescape, message)
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _FORMATTER.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    setattr(record, _MASKED, True)


class PiiFilter(logging.Filter):
    """Masks phone, identity, bank card and 社保/医保 card numbers in every record it sees;
    never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install_log_masking() -> None:
    """Masks every log record of this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        mask_record(record)
        return record

    logging.setLogRecordFactory(factory)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, PiiFilter) for f in handler.filters):
            handler.addFilter(PiiFilter())
    _installed = True
