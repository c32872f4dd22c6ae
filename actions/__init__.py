"""Custom actions of the assistant, served by the rasa-sdk action server (Python 3.11).

rasa-sdk imports every module of this package, so no module does I/O at import: models,
indexes and HTTP clients are created lazily, once per process (see ``actions.runtime``).
Actions name responses from the domain; they hold no resident-facing wording.
"""
