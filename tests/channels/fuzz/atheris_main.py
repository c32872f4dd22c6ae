"""Coverage-guided fuzzing of the channel parsers with atheris (libFuzzer), beside hypothesis.

Not collected by pytest, and atheris is not in the lock files: run it by hand in the Rasa
environment with atheris on the side (it ships manylinux wheels for CPython 3.10), e.g.

    pip install --target /tmp/atheris-lib atheris==2.3.0
    PYTHONPATH=/tmp/atheris-lib:. $RASA_PY tests/channels/fuzz/atheris_main.py rest \\
        -atheris_runs=200000

Targets: ``wechat`` (a signed plain delivery), ``voice`` (an activities body), ``rest`` (a REST
body), ``feedback`` (a web chat feedback body). A target fails when anything but the documented
refusal escapes; libFuzzer then writes the input to ``crash-*``: pin it as an ``@example`` in
the hypothesis test of the same parser.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys

import atheris

with atheris.instrument_imports():
    from channels.rest import BadRequest as RestBadRequest
    from channels.rest import parse_rest_body
    from channels.voice.protocol import BadRequest as VoiceBadRequest
    from channels.voice.protocol import parse_activities
    from channels.webchat import parse_feedback
    from channels.wechat.protocol import WeChatProtocolError, open_delivery

TOKEN, NOW = "fuzzToken123", 1_700_000_000
SIGNATURE = hashlib.sha1("".join(sorted([TOKEN, str(NOW), "42"])).encode()).hexdigest()
QUERY = {"signature": SIGNATURE, "timestamp": str(NOW), "nonce": "42"}


def wechat(data: bytes) -> None:
    with contextlib.suppress(WeChatProtocolError):
        open_delivery(data, QUERY, token=TOKEN, app_id="wx2c2769f8efd9abc2",
                      encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", now=NOW,
                      tolerance=300, max_bytes=64 * 1024)


def voice(data: bytes) -> None:
    with contextlib.suppress(VoiceBadRequest):
        parse_activities(data, "conv-1")


def rest(data: bytes) -> None:
    with contextlib.suppress(RestBadRequest):
        parse_rest_body(data)


def feedback(data: bytes) -> None:
    with contextlib.suppress(RestBadRequest):
        parse_feedback(data)


TARGETS = {"wechat": wechat, "voice": voice, "rest": rest, "feedback": feedback}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: atheris_main.py {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
