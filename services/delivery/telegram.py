"""Sends messages through the Telegram Bot API and says what a failure means.

The scheduler's only dependency on Telegram: plain HTTP with requests, so the
delivery rules in services/delivery/sender.py can be tested with a fake transport.
"""
import json

import requests

from services.delivery.telegram_http import BotApiHttp
from services.delivery.transport import (
    MISCONFIGURED,
    PERMANENT,
    RETRY_AFTER,
    TRANSIENT,
    UNREACHABLE,
    DeliveryError,
)

# 400 descriptions that mean the chat itself is gone, not that the message was bad.
_GONE_CHAT_MARKERS = ("chat not found", "peer_id_invalid", "user not found",
                      "bot was kicked", "have no rights to send")


def classify(status, payload):
    """A DeliveryError for a failed Bot API response (HTTP status, decoded JSON or None)."""
    payload = payload if isinstance(payload, dict) else {}
    code = payload.get("error_code", status)
    description = payload.get("description") or f"HTTP {status}"
    if code == 429:
        retry_after = (payload.get("parameters") or {}).get("retry_after") or 5
        return DeliveryError(RETRY_AFTER, description, retry_after=int(retry_after))
    if code == 403 or (code == 400 and any(m in description.lower() for m in _GONE_CHAT_MARKERS)):
        return DeliveryError(UNREACHABLE, description)
    if code in (401, 404):
        return DeliveryError(MISCONFIGURED, f"{description} (check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL)")
    if 400 <= code < 500:
        return DeliveryError(PERMANENT, description)
    return DeliveryError(TRANSIENT, description)


_NO_PREVIEW = json.dumps({"is_disabled": True})


class TelegramTransport:
    channel = "telegram"

    def __init__(self, api_url, token, timeout=(5, 30)):
        self._token = token
        self._base = f"{api_url}/bot{token}/"
        self._timeout = timeout
        self._http = BotApiHttp(api_url)

    def send(self, chat_id, text, parse_mode=None, reply_markup=None):
        """Send one message (`reply_markup`: JSON text); returns Telegram's message
        id or raises DeliveryError."""
        params = {"chat_id": chat_id, "text": text, "link_preview_options": _NO_PREVIEW,
                  "parse_mode": parse_mode, "reply_markup": reply_markup}
        return self._call("sendMessage", params)["message_id"]

    def copy(self, chat_id, from_chat_id, message_id, reply_markup=None):
        """Copy a message (a member's photo, voice…) into another chat; returns the new
        message's id or raises DeliveryError."""
        params = {"chat_id": chat_id, "from_chat_id": from_chat_id, "message_id": message_id,
                  "reply_markup": reply_markup}
        return self._call("copyMessage", params)["message_id"]

    def react(self, chat_id, message_id, emoji):
        """Set the bot's reaction on a message (one of Telegram's reaction emoji)."""
        self._call("setMessageReaction", {
            "chat_id": chat_id, "message_id": message_id,
            "reaction": json.dumps([{"type": "emoji", "emoji": emoji}])})

    def set_commands(self, chat_id, commands):
        """A chat's own command menu, [[name, description], …]; none: the chat gets the
        bot's default menu again."""
        scope = json.dumps({"type": "chat", "chat_id": chat_id})
        if not commands:
            self._call("deleteMyCommands", {"scope": scope})
            return
        self._call("setMyCommands", {"scope": scope, "commands": json.dumps(
            [{"command": name, "description": description} for name, description in commands])})

    def edit(self, chat_id, message_id, text, parse_mode=None, reply_markup=None):
        """Edit a message the bot sent: its text and keyboard, or with no text its
        keyboard alone (none: removed). An edit that changes nothing succeeds."""
        params = {"chat_id": chat_id, "message_id": message_id, "reply_markup": reply_markup}
        method = "editMessageReplyMarkup"
        if text:
            method = "editMessageText"
            params.update(text=text, parse_mode=parse_mode, link_preview_options=_NO_PREVIEW)
        try:
            self._call(method, params)
        except DeliveryError as error:
            if "message is not modified" not in error.description:
                raise

    def get_file(self, file_id, limit=20 * 1024 * 1024):
        """A file a chat holds, by its file_id: Telegram's getFile, then a download of the
        path it gives. Returns (bytes, content type: the server's, else guessed from the
        path, else application/octet-stream); raises DeliveryError (a file over `limit`
        bytes, which the Bot API does not serve either, is PERMANENT)."""
        import mimetypes

        path = self._call("getFile", {"file_id": file_id}).get("file_path")
        if not path:
            raise DeliveryError(PERMANENT, "Telegram gave no file path for this file")
        url = f"{self._base[:-len(f'bot{self._token}/')]}file/bot{self._token}/{path}"
        try:
            with requests.get(url, timeout=self._timeout, stream=True) as response:
                if response.status_code != 200:
                    try:
                        payload = response.json()
                    except ValueError:
                        payload = None
                    raise classify(response.status_code, payload)
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise DeliveryError(PERMANENT, f"the file is larger than {limit:,} bytes")
                    chunks.append(chunk)
                served = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        except requests.RequestException as exc:
            reason = str(exc).replace(self._token, "<token>")
            raise DeliveryError(TRANSIENT, f"network error: {type(exc).__name__}: {reason}") from None
        if not served or served == "application/octet-stream":
            served = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return b"".join(chunks), served

    def _call(self, method, params):
        params = {name: value for name, value in params.items() if value is not None}
        try:
            response = self._http.request("POST", self._base + method, params=params,
                                          timeout=self._timeout)
        except requests.RequestException as exc:
            # Network errors name the URL, token included.
            reason = str(exc).replace(self._token, "<token>")
            raise DeliveryError(TRANSIENT, f"network error: {type(exc).__name__}: {reason}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code == 200 and isinstance(payload, dict) and payload.get("ok"):
            return payload["result"]
        raise classify(response.status_code, payload)
