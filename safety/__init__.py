"""Safety: emergency detection, the sensitive-word list, and abuse (rate) limits.

Pure logic shared by the Rasa server (channels, the NLU component :mod:`safety.nlu`) and the
action server / knowledge tools. Nothing here does I/O at import; :mod:`safety.nlu` imports Rasa
and is loaded only by the Rasa pipeline.
"""
