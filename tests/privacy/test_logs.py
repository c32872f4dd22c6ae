"""privacy.logs: every log record of a process masked, whatever logger or handler it goes to."""

import io
import json
import logging

import pytest

import privacy.logs
from privacy import PiiFilter, install_log_masking

pytestmark = pytest.mark.unit

PHONE, ID = "13812345678", "11010519491231002X"


@pytest.fixture
def installed():
    """install_log_masking() for one test; the process's record factory is restored after."""
    factory = logging.getLogRecordFactory()
    privacy.logs._installed = False
    install_log_masking()
    yield
    logging.setLogRecordFactory(factory)
    privacy.logs._installed = False
    for handler in logging.getLogger().handlers:
        for f in [f for f in handler.filters if isinstance(f, PiiFilter)]:
            handler.removeFilter(f)


def capture(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_the_filter_masks_message_arguments_and_tracebacks():
    logger, stream = capture("privacy.test.filter")
    logger.handlers[0].addFilter(PiiFilter())
    logger.info("user %s said %r", "u1", f"我的电话是{PHONE}")
    try:
        raise ValueError(f"bad id {ID}")
    except ValueError:
        logger.exception("failed for %s", PHONE)
    logger.warning("stack", stack_info=True)
    out = stream.getvalue()
    assert PHONE not in out and ID not in out
    assert "我的电话是138****5678" in out and "bad id 110***********002X" in out
    assert "failed for 138****5678" in out and "Traceback" in out


def test_json_log_lines_are_read_with_their_escapes_written_out():
    """Rasa's structlog renders JSON with ensure_ascii: 幺三八… arrives as \\u5e7a\\u4e09…"""
    line = json.dumps({"event": "processor.message.parse", "text": "电话幺三八一二三四五六七八",
                       "quote": '"', "emoji": "🙂"})
    record = logging.LogRecord("rasa", logging.DEBUG, __file__, 1, line, (), None)
    PiiFilter().filter(record)
    assert json.loads(record.getMessage()) == {
        "event": "processor.message.parse", "text": "电话幺三八****五六七八", "quote": '"',
        "emoji": "🙂"}


def test_a_record_without_numbers_keeps_its_arguments():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s turns", (3,), None)
    assert PiiFilter().filter(record) is True
    assert record.args == (3,) and record.getMessage() == "3 turns"


def test_installed_masking_reaches_handlers_and_loggers_created_afterwards(installed):
    logger, stream = capture("privacy.test.later")  # a handler added after install
    logger.debug(f"Received user message '身份证{ID}，电话 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}'")
    logging.getLogger("privacy.test.later.child").error("card %s", "6222021234567890128")
    out = stream.getvalue()
    assert ID not in out and PHONE[3:7] not in out and "6222021234567890128" not in out
    assert "身份证110***********002X" in out and "138 **** 5678" in out
    assert "6222***********0128" in out


def test_installing_twice_masks_once(installed):
    install_log_masking()
    record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, PHONE, (), None)
    assert record.getMessage() == "138****5678"


def test_a_broken_format_is_left_to_logging():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d phones", ("x",), None)
    PiiFilter().filter(record)
    assert record.msg == "%d phones"
