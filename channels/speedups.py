"""Process-wide speed-ups of the Rasa server, each measured, each keeping Rasa's behaviour.

Installed once by the tracker store (:mod:`channels.tracker_store`), which every Rasa server of
this project builds at start-up from ``bot/endpoints.yml``; :func:`install` is idempotent.

**Action-server answers are validated against a schema compiled once.** Rasa 3.6 checks every
answer of the action server with ``jsonschema.validate(result, spec)``
(``RemoteAction._validate_action_result``). That function first validates the *schema itself*
against the JSON-Schema 2020-12 meta-schema (``check_schema``) and builds a new validator, on
every call, for a schema that never changes: py-spy on the Rasa server under ``bench/load.py``
put 45 % of its CPU in jsonschema (~100 ms a call timed on a busy machine). Here the validator
(the same class ``jsonschema.validate`` picks, the same schema) is built and its schema checked
once; each answer is then validated as before (~3 ms), and an invalid answer raises the same
``ValidationError`` with the same message.

**Slots are copied without the pickle protocol.** Every tracker Rasa builds (retrieving a
conversation, each prediction's walk over the past states, every form validation) copies each of
the domain's slots with ``copy.copy``, which goes through ``__reduce_ex__`` and
``copyreg.__newobj__`` (~4 µs a slot; this domain has 46 slots, and a turn builds dozens of
trackers: 6.6 % of the server's CPU). :func:`_copy_slot` makes the same shallow copy (a new
instance of the same class sharing the attribute values, which is what ``copy.copy`` does for a
class without ``__slots__``, ``__copy__`` or ``__setstate__``, as Rasa's slots are) directly.
"""

from __future__ import annotations

import functools
from typing import Any

_installed = False


@functools.cache
def _action_response_validator() -> Any:
    from jsonschema import validators
    from rasa.core.actions.action import RemoteAction

    spec = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with the compiled validator (same errors)."""
    from jsonschema import exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    error = exceptions.best_match(_action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def _copy_slot(self: Any) -> Any:
    """The shallow copy ``copy.copy`` makes of a slot, without the pickle protocol."""
    copied = object.__new__(type(self))
    copied.__dict__.update(self.__dict__)
    return copied


def install() -> None:
    """Installs the speed-ups in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.slots import Slot

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    Slot.__copy__ = _copy_slot  # type: ignore[attr-defined]
    _installed = True
