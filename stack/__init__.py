"""Starting, watching and stopping the assistant's processes (used by scripts/run and the tests).

Runs on the actions environment (Python 3.11) and only starts the other processes; it imports
neither Rasa nor the action server.
"""
