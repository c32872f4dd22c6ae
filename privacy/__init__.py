"""Personal data (个人信息保护法): finding and masking phone, 身份证, bank card and 社保/医保 card
numbers wherever text is kept — logs, the conversations stored in Redis, analytics.

Standard library only, so both environments import it: the Rasa server (Python 3.10: the
masking tracker store in :mod:`channels.tracker_store`) and the action server, knowledge engine
and sandbox backends (Python 3.11). Nothing here does I/O, at import or later.

- :func:`find_pii` / :func:`mask_text` / :func:`mask_data` — detection and masking
  (:mod:`privacy.detect`; the rules are documented there).
- :class:`PiiFilter` / :func:`install_log_masking` — every log record of a process masked
  (:mod:`privacy.logs`).
"""

from privacy.detect import (
    BANK_CARD,
    ID_CARD,
    LANDLINE,
    MOBILE,
    SOCIAL_CARD,
    Finding,
    find_pii,
    id_check_char,
    id_number_valid,
    luhn_valid,
    mask_data,
    mask_text,
)
from privacy.logs import PiiFilter, install_log_masking

__all__ = [
    "BANK_CARD",
    "ID_CARD",
    "LANDLINE",
    "MOBILE",
    "SOCIAL_CARD",
    "Finding",
    "PiiFilter",
    "find_pii",
    "id_check_char",
    "id_number_valid",
    "install_log_masking",
    "luhn_valid",
    "mask_data",
    "mask_text",
]
