"""``scripts/wechat-config``: the values to paste into the WeChat admin console.

The Official Account's server configuration (公众号后台 → 设置与开发 → 基本配置 → 服务器配置)
asks for a URL, a Token and an EncodingAESKey. This prints them from the environment
(``WECHAT_TOKEN``, ``WECHAT_ENCODING_AES_KEY``), or fresh ones with ``--new-token`` /
``--new-key`` (also when none is set), and the ``export`` lines that give the same values to the
Rasa server. ``--check`` only validates the current environment (exit status 1 if it is wrong).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence

from channels.wechat.protocol import new_encoding_aes_key, new_token
from channels.wechat.settings import ConfigError, WeChatSettings, valid_encoding_aes_key

WEBHOOK_PATH = "/webhooks/wechat/webhook"


def webhook_url(public_url: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(
        prog="scripts/wechat-config",
        description="Print the URL, Token and EncodingAESKey for the WeChat admin console.",
    )
    default_public = env.get("WECHAT_PUBLIC_URL") or (
        f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}"
    )
    parser.add_argument("--public-url", default=default_public,
                        help="where WeChat reaches the Rasa server (https://…; default "
                             "$WECHAT_PUBLIC_URL or the local Rasa port)")
    parser.add_argument("--new-key", action="store_true", help="generate a fresh EncodingAESKey")
    parser.add_argument("--new-token", action="store_true", help="generate a fresh Token")
    parser.add_argument("--check", action="store_true",
                        help="only validate the WECHAT_* environment variables")
    args = parser.parse_args(argv)

    if args.check:
        try:
            settings = WeChatSettings.from_env(env, {})
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if settings is None:
            print("error: the WeChat channel is not configured (no WECHAT_* set)",
                  file=sys.stderr)
            return 1
        mode = "安全模式 (AES)" if settings.encoding_aes_key else "明文模式 (plain) only"
        print(f"ok: WeChat channel configured for {settings.app_id}, {mode}, "
              f"API {settings.api_base}")
        return 0

    notes: list[str] = []
    token = (env.get("WECHAT_TOKEN") or "").strip()
    if args.new_token or not token:
        token = new_token()
        notes.append("Token is new")
    key = (env.get("WECHAT_ENCODING_AES_KEY") or "").strip()
    if args.new_key or not key:
        key = new_encoding_aes_key()
        notes.append("EncodingAESKey is new")
    elif not valid_encoding_aes_key(key):
        print("error: WECHAT_ENCODING_AES_KEY is not a valid 43-character key; "
              "use --new-key", file=sys.stderr)
        return 1

    print("WeChat admin console — 设置与开发 → 基本配置 → 服务器配置:")
    print(f"  URL (服务器地址):                  {webhook_url(args.public_url)}")
    print(f"  Token (令牌):                      {token}")
    print(f"  EncodingAESKey (消息加解密密钥):   {key}")
    print("  消息加解密方式:                    安全模式 (recommended)")
    if not args.public_url.startswith("https://"):
        print("  note: WeChat needs a public http(s) URL on port 80 or 443; "
              "pass --public-url https://your.host")
    print("\nThe same values for the Rasa server's environment:")
    print(f"  export WECHAT_TOKEN={shlex.quote(token)}")
    print(f"  export WECHAT_ENCODING_AES_KEY={shlex.quote(key)}")
    for name, label in (("WECHAT_APP_ID", "开发者ID (AppID)"),
                        ("WECHAT_APP_SECRET", "开发者密码 (AppSecret)")):
        if env.get(name):
            print(f"  # {name} is already set")
        else:
            print(f"  export {name}=...   # {label}, from the same page")
    if notes:
        print(f"\n({'; '.join(notes)}: paste it into the console and set it on the server "
              "together, then press 提交 so WeChat verifies the URL.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
