"""`python -m devtools.telegram_emulator`: the Bot API emulator on a port, for local runs,
printing each call (devtools/README.md)."""
from __future__ import annotations

import argparse
import threading
import time

from devtools.emulator_records import Call
from devtools.telegram_emulator import TelegramEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve an emulated Telegram Bot API for local runs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--bot-username", default="test_bot")
    parser.add_argument("--global-rate", type=int, default=30, help="message sends per second (0: no limit)")
    args = parser.parse_args(argv)

    def log(call: Call) -> None:
        outcome = "dropped" if call.status is None else call.status
        detail = call.response.get("description", "") if call.response and not call.response["ok"] else ""
        params = " ".join(f"{k}={v!r:.80}" for k, v in call.params.items())
        print(f"{time.strftime('%H:%M:%S')} {call.method} {params} -> {outcome} {detail}".rstrip(), flush=True)

    emulator = TelegramEmulator(args.token, args.bot_username, host=args.host, port=args.port,
                                global_rate=args.global_rate or None, on_call=log).start()
    print(f"Bot API emulator at {emulator.base_url}/bot{args.token}/<method>\n"
          f"chat with the bot:  curl -d '{{\"user_id\": 111, \"text\": \"/start\"}}' "
          f"-H 'Content-Type: application/json' {emulator.base_url}/_emulator/send\n"
          f"read the chat:      curl '{emulator.base_url}/_emulator/transcript?chat_id=111'", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()
