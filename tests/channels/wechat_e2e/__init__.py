"""WeChat channel tests against real servers: Redis, the WeChat API sandbox, and a whole stack
(Rasa, action server, sandbox backends). Run in the Rasa (3.10) environment, which has wechatpy."""
