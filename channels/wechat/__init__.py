"""WeChat Official Account (公众号) channel, mounted at ``/webhooks/wechat/webhook``.

Modules:

- :mod:`channels.wechat.settings`: configuration (secrets from ``WECHAT_*`` environment variables,
  options from ``bot/credentials.yml``), validated in one place.
- :mod:`channels.wechat.protocol`: pure protocol functions on wechatpy: signatures, timestamps,
  安全模式 decryption, strict XML parsing, mapping a WeChat message to what Rasa hears, and the
  passive-reply XML.
- :mod:`channels.wechat.render`: pure rendering of Rasa's messages for WeChat: numbered options
  for buttons, links, splitting within WeChat's size limits while keeping the source line.
- :mod:`channels.wechat.store`: Redis state (dedup claims, results, numbered options, the shared
  access_token), every key under one prefix with a TTL.
- :mod:`channels.wechat.api`: typed aiohttp client of WeChat's API (token, 客服消息).
- :mod:`channels.wechat.delivery`: the 5-second rule: passive reply or customer-service message,
  exactly once across WeChat's retries and across processes.
- :mod:`channels.wechat.channel`: the Rasa ``InputChannel``/``OutputChannel`` pair.
- :mod:`channels.wechat.console`: ``scripts/wechat-config``.

Nothing is imported here, so importing the package does no I/O and loads nothing heavy.
"""
