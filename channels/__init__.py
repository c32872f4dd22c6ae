"""Rasa input/output channels. They run inside the Rasa server process (Python 3.10)."""
