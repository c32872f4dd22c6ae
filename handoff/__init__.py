"""Human handoff: the agent queue shared by the Rasa server and the action server.

- :mod:`handoff.model`: the queue's states and transitions, the conversation summary (pure);
- :mod:`handoff.hours`: the agents' service hours, parsed from ``MINSHENG_AGENT_HOURS`` (pure);
- :mod:`handoff.store`: the queue in Redis, every key built by one helper and given a TTL.

The action server enqueues (``actions/handoff.py``); the Rasa server holds a conversation while
an agent has it (the ``held_by_agent`` check of ``channels/gate.py``) and serves the agent API
(``channels/agent.py``). Both import only this package and ``redis.asyncio`` (redis 4.6 on
Python 3.10, redis 8 on 3.11), so nothing here imports Rasa or rasa-sdk.
"""
