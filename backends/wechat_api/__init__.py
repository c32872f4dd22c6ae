"""A sandbox of WeChat's server side: its API (``app``: access_token, 客服消息 send, with records
tests can query) and its message push (``push``: signed, optionally encrypted deliveries to the
channel's webhook, retried the way WeChat retries)."""
