"""The Bot API methods the emulator models, over its chats, messages and update queue.

BotApiMethods holds Telegram's side of the state; TelegramEmulator (telegram_emulator.py)
adds the server, the test controls and the dispatch that runs these methods under its lock.
"""
from __future__ import annotations

import base64
import copy
import itertools
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from devtools import telegram_formatting
from devtools.botapi_spec import BotApiSpec

SPEC = BotApiSpec()
_TEXT_LIMIT = 4096
_CAPTION_LIMIT = 1024
# setMyDescription / setMyShortDescription: "0-512 characters", "0-120 characters" (the spec's wording).
_DESCRIPTION_LIMITS = {"description": 512, "short_description": 120}
_CALLBACK_DATA_LIMIT = 64
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_TRIMMED = " \t\r\n"  # Telegram strips these around a message text
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                 "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
# Update types delivered when the bot did not ask for specific ones (see getUpdates' allowed_updates).
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
# The fields of a Message that are its content: what copyMessage copies (not sender, date, reply or keyboard).
_CONTENT_KEYS = ("text", "entities", "link_preview_options", "animation", "audio", "document", "photo", "sticker",
                 "video", "video_note", "voice", "caption", "caption_entities", "show_caption_above_media",
                 "has_media_spoiler", "contact", "dice", "poll", "venue", "location")
# Media that take a caption; a new caption for anything else (text, a sticker, a location...) is ignored.
_CAPTIONED = ("animation", "audio", "document", "photo", "video", "voice")
# Bookkeeping kept in stored messages but not part of Telegram's Message object.
_EMULATOR_KEYS = ("raw_text", "parse_mode", "sent_with", "deleted")
_NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                 "exactly the same as a current content and reply markup of the message")
STANDARD_ERRORS = {
    400: "Bad Request: chat not found", 401: "Unauthorized", 403: "Forbidden: bot was blocked by the user",
    404: "Not Found", 409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running", 500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout",
}


class ApiError(Exception):
    """An error reply: {"ok": false, "error_code": status, "description": ...}."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def payload(self) -> dict:
        payload = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            payload["parameters"] = {"retry_after": self.retry_after}
        return payload


@dataclass(frozen=True)
class StoredFile:
    """A file Telegram keeps: what getFile describes and GET /file/bot<token>/<file_path> serves."""
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    mime_type: str


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


def _is_message_sending(method: str) -> bool:
    return (method.startswith("send") and method != "sendChatAction") or method in (
        "copyMessage", "copyMessages", "forwardMessage", "forwardMessages")


class BotApiMethods:
    def __init__(self, token: str, bot_username: str, global_rate: int | None, per_chat_rate: int | None) -> None:
        self.token, self.bot_username = token, bot_username
        self.global_rate, self.per_chat_rate = global_rate, per_chat_rate
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": bot_username,
                         "username": bot_username}
        self._cond = threading.Condition()  # guards all state; notified when updates arrive or on stop
        self._stopping = False
        self._commands: dict[str, list] = {}
        self._users: dict[int, dict] = {}
        self._blocked: set[int] = set()
        self._messages: dict[int, dict[int, dict]] = {}  # chat id -> message id -> stored message
        self._bot_messages: list[tuple[int, int]] = []  # (chat id, message id) in sending order
        self._updates: list[dict] = []  # not yet confirmed by a getUpdates offset
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._webhook_url = ""
        self._files: dict[str, StoredFile] = {}  # file_id -> file
        self._file_numbers = itertools.count(1)
        # "description" / "short_description" -> language_code ("" for everyone) -> text; unset is "".
        self._descriptions: dict[str, dict[str, str]] = {field: {} for field in _DESCRIPTION_LIMITS}
        self._sends: deque[float] = deque()
        self._chat_sends: dict[int, deque[float]] = {}
        self._handlers: dict[str, Callable[[dict], Any]] = {
            "getMe": lambda p: dict(self.bot_user, can_join_groups=True, can_read_all_group_messages=False,
                                    supports_inline_queries=False, can_connect_to_business=False,
                                    has_main_web_app=False),
            "getUpdates": self._get_updates, "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text, "editMessageReplyMarkup": self._edit_reply_markup,
            "deleteMessage": self._delete_message, "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands, "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": lambda p: self._commands.get(self._scope_key(p), []),
            "setWebhook": self._set_webhook, "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": lambda p: {"url": self._webhook_url, "has_custom_certificate": False,
                                         "pending_update_count": len(self._updates)},
            "sendChatAction": self._send_chat_action, "getChat": self._get_chat,
            "copyMessage": self._copy_message, "getFile": self._get_file,
            "setMyDescription": lambda p: self._set_description("description", p),
            "getMyDescription": lambda p: self._get_description("description", p),
            "setMyShortDescription": lambda p: self._set_description("short_description", p),
            "getMyShortDescription": lambda p: self._get_description("short_description", p),
            "close": lambda p: True, "logOut": lambda p: True,
        }

    def _generic(self, method: str, p: dict):
        """Spec-valid call of a method the emulator does not model: a plausible, minimal result."""
        returns = SPEC.returns(method)
        if _is_message_sending(method) and "Message" in returns and "chat_id" in p:
            chat_id = self._target_chat(p["chat_id"], sending=True)
            self._count_send(chat_id)
            message = self._store_bot_message(chat_id, method, p)
            if "caption" in p:
                message["caption"] = p["caption"]
            return self._public(message)
        return [] if returns[0].startswith("Array of ") else True

    # ------------------------------------------------------------ Bot API methods (run under the lock)

    def _get_updates(self, p: dict) -> list[dict]:
        if self._webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset, limit = p.get("offset", 0), p.get("limit", 100)
        limit = limit if 1 <= limit <= 100 else 100
        if "allowed_updates" in p:  # it sticks for later calls, as on Telegram
            self._allowed_updates = p["allowed_updates"]
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        # A newer getUpdates ends this one with 409, as on Telegram when two bot instances poll.
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()
        deadline = time.monotonic() + max(0, p.get("timeout", 0))
        while True:
            allowed = set(self._allowed_updates) or {f["name"] for f in SPEC.types["Update"]["fields"]
                                                     if f["name"] != "update_id"} - _NOT_BY_DEFAULT
            # Telegram does not even create updates of unwanted types, so they are gone for good.
            self._updates = [u for u in self._updates if next(k for k in u if k != "update_id") in allowed]
            remaining = deadline - time.monotonic()
            if self._updates or self._stopping or remaining <= 0:
                return self._updates[:limit]
            if generation != self._poll_generation:
                raise ApiError(409, STANDARD_ERRORS[409])
            self._cond.wait(remaining)

    def _send_message(self, p: dict) -> dict:
        chat_id = self._target_chat(p["chat_id"], sending=True)
        formatted = self._formatted_text(p["text"], p.get("parse_mode"), p.get("entities"))
        self._check_reply_markup(p.get("reply_markup"))
        self._count_send(chat_id)
        message = self._store_bot_message(chat_id, "sendMessage", p, text=formatted.text)
        if formatted.entities:
            message["entities"] = formatted.entities
        return self._public(message)

    def _copy_message(self, p: dict) -> dict:
        """A new bot message with the source's content (and a new caption, if given); returns a MessageId."""
        chat_id = self._target_chat(p["chat_id"], sending=True)
        source = self._messages.get(self._target_chat(p["from_chat_id"]), {}).get(p["message_id"])
        if source is None or source.get("deleted"):
            raise ApiError(400, "Bad Request: message to copy not found")
        content = {key: copy.deepcopy(source[key]) for key in _CONTENT_KEYS if key in source}
        if "caption" in p and ("caption" in source or any(key in source for key in _CAPTIONED)):
            caption = self._formatted_caption(p["caption"], p.get("parse_mode"), p.get("caption_entities"))
            for key in ("caption", "caption_entities", "show_caption_above_media"):
                content.pop(key, None)
            if caption.text:  # an empty new caption removes the old one
                content["caption"] = caption.text
            if caption.entities:
                content["caption_entities"] = caption.entities
            if p.get("show_caption_above_media"):
                content["show_caption_above_media"] = True
        self._check_reply_markup(p.get("reply_markup"))
        self._count_send(chat_id)
        return {"message_id": self._store_bot_message(chat_id, "copyMessage", p, **content)["message_id"]}

    def _get_file(self, p: dict) -> dict:
        stored = self._files.get(p["file_id"])
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content), "file_path": stored.file_path}

    def _set_description(self, field: str, p: dict) -> bool:
        """setMyDescription / setMyShortDescription: kept per language_code; an empty text removes it."""
        text = p.get(field, "")
        if len(text) > _DESCRIPTION_LIMITS[field]:
            raise ApiError(400, f"Bad Request: {field.replace('_', ' ')} is too long")
        texts = self._descriptions[field]
        if text:
            texts[p.get("language_code", "")] = text
        else:
            texts.pop(p.get("language_code", ""), None)
        return True

    def _get_description(self, field: str, p: dict) -> dict:
        """BotDescription / BotShortDescription: the text for exactly this language_code, "" if none."""
        return {field: self._descriptions[field].get(p.get("language_code", ""), "")}

    def _edit_message_text(self, p: dict) -> dict:
        message = self._editable_message(p)
        formatted = self._formatted_text(p.get("text", ""), p.get("parse_mode"), p.get("entities"))
        self._check_reply_markup(p.get("reply_markup"))
        if (formatted.text, formatted.entities, p.get("reply_markup")) == (
                message.get("text"), message.get("entities", []), message.get("reply_markup")):
            raise ApiError(400, _NOT_MODIFIED)
        message.pop("entities", None)
        message.update(text=formatted.text, raw_text=p.get("text", ""), parse_mode=p.get("parse_mode"),
                       edit_date=int(time.time()), reply_markup=p.get("reply_markup"))
        if formatted.entities:
            message["entities"] = formatted.entities
        return self._public(message)

    def _edit_reply_markup(self, p: dict) -> dict:
        message = self._editable_message(p)
        self._check_reply_markup(p.get("reply_markup"))
        if p.get("reply_markup") == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        message.update(reply_markup=p.get("reply_markup"), edit_date=int(time.time()))
        return self._public(message)

    def _delete_message(self, p: dict) -> bool:
        message = self._messages.get(self._target_chat(p["chat_id"]), {}).get(p["message_id"])
        if message is None or message.get("deleted"):
            raise ApiError(400, "Bad Request: message to delete not found")
        message["deleted"] = True
        return True

    def _answer_callback_query(self, p: dict) -> bool:
        if self._callback_queries.get(p["callback_query_id"]) is not False:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._callback_queries[p["callback_query_id"]] = True
        return True

    def _set_my_commands(self, p: dict) -> bool:
        if len(p["commands"]) > 100:
            raise ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in p["commands"]:
            if not _COMMAND.fullmatch(command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._scope_key(p)] = p["commands"]
        return True

    def _delete_my_commands(self, p: dict) -> bool:
        self._commands.pop(self._scope_key(p), None)
        return True

    def _set_webhook(self, p: dict) -> bool:
        self._webhook_url = p["url"]
        return True

    def _delete_webhook(self, p: dict) -> bool:
        self._webhook_url = ""
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _send_chat_action(self, p: dict) -> bool:
        self._target_chat(p["chat_id"], sending=True)
        if p["action"] not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _get_chat(self, p: dict) -> dict:
        chat = self._chat(self._target_chat(p["chat_id"]))
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), True)
        return dict(chat, accent_color_id=0, max_reaction_count=11, accepted_gift_types=gifts)

    # ------------------------------------------------------------ helpers (under the lock)

    def _target_chat(self, chat_id, sending: bool = False) -> int:
        if not isinstance(chat_id, int) or chat_id not in self._users:
            raise ApiError(400, "Bad Request: chat not found")
        if sending and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _editable_message(self, p: dict) -> dict:
        if "inline_message_id" in p:
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")  # inline messages are not emulated
        if "chat_id" not in p or "message_id" not in p:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._messages.get(self._target_chat(p["chat_id"], sending=True), {}).get(p["message_id"])
        if message is None or message.get("deleted"):
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _formatted_text(self, text: str, parse_mode: str | None, entities: list | None):
        formatted = self._parsed(text, parse_mode, entities)
        if not formatted.text:
            raise ApiError(400, "Bad Request: message text is empty")
        if telegram_formatting.utf16_len(formatted.text) > _TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        return formatted

    def _formatted_caption(self, caption: str, parse_mode: str | None, entities: list | None):
        """A media caption: like a text, but it may be empty and has its own limit."""
        formatted = self._parsed(caption, parse_mode, entities)
        if telegram_formatting.utf16_len(formatted.text) > _CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        return formatted

    def _parsed(self, text: str, parse_mode: str | None, entities: list | None):
        """Text and entities after Telegram's parsing and trimming; a 400 for what it can't parse."""
        try:
            text.encode("utf-8")
            formatted = (telegram_formatting.FormattedText(text, entities) if entities
                         else telegram_formatting.parse(text, parse_mode))
        except UnicodeEncodeError:
            raise ApiError(400, "Bad Request: text must be encoded in UTF-8") from None
        except telegram_formatting.UnsupportedParseMode:
            raise ApiError(400, "Bad Request: unsupported parse_mode") from None
        except telegram_formatting.ParseError as error:
            raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        return _trimmed(formatted)

    def _check_reply_markup(self, markup: dict | None) -> None:
        """What the spec cannot say about inline keyboards; JSON types were checked already."""
        kinds = [f["name"] for f in SPEC.types["InlineKeyboardButton"]["fields"]
                 if f["name"] not in ("text", "icon_custom_emoji_id", "style")]
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                used = [kind for kind in kinds if button.get(kind) is not None]
                if not used:
                    raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                        "Text buttons are unallowed in the inline keyboard")
                if len(used) > 1:
                    raise ApiError(400, f"Bad Request: can't parse inline keyboard button: exactly one of "
                                        f"{', '.join(used)} must be used")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= _CALLBACK_DATA_LIMIT:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _count_send(self, chat_id: int) -> None:
        """Sliding one-second windows: 429 when a send would exceed the global or per-chat rate."""
        now = time.monotonic()
        chat_window = self._chat_sends.setdefault(chat_id, deque())
        for window, rate in ((self._sends, self.global_rate), (chat_window, self.per_chat_rate)):
            while window and window[0] <= now - 1:
                window.popleft()
            if rate is not None and len(window) >= rate:
                raise too_many_requests(max(1, math.ceil(window[0] + 1 - now)))
        self._sends.append(now)
        chat_window.append(now)

    def _store_bot_message(self, chat_id: int, method: str, p: dict, **content) -> dict:
        message = {"message_id": self._next_message_id(chat_id), "from": dict(self.bot_user),
                   "chat": self._chat(chat_id), "date": int(time.time()), **content,
                   "raw_text": p.get("text"), "parse_mode": p.get("parse_mode"), "sent_with": method,
                   "deleted": False, "reply_markup": p.get("reply_markup")}
        self._messages[chat_id][message["message_id"]] = message
        self._bot_messages.append((chat_id, message["message_id"]))
        return message

    def _store_file(self, folder: str, extension: str, content: bytes, mime_type: str) -> dict:
        """Keep a file for getFile and downloads; returns the file_id, file_unique_id and file_size that the
        objects describing it (PhotoSize, Document...) carry."""
        number = next(self._file_numbers)
        # Real ids are opaque URL-safe base64 too; these only need to be unique and stable within a run.
        file_id = base64.urlsafe_b64encode(f"emulated-{folder}-file-{number}".encode()).decode().rstrip("=")
        stored = StoredFile(file_id, f"AQAD{number:08d}", f"{folder}/file_{number}.{extension}", bytes(content),
                            mime_type)
        self._files[file_id] = stored
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.content)}

    def _public(self, message: dict) -> dict:
        """A stored message as Telegram returns it: only inline keyboards are part of a Message."""
        public = {k: copy.deepcopy(v) for k, v in message.items() if k not in _EMULATOR_KEYS}
        if not (public.get("reply_markup") or {}).get("inline_keyboard"):
            public.pop("reply_markup", None)
        return public

    def _next_message_id(self, chat_id: int) -> int:
        return len(self._messages.setdefault(chat_id, {})) + 1  # messages are never removed, only marked

    def _chat(self, user_id: int) -> dict:
        user = self._users[user_id]
        return {"id": user_id, "type": "private",
                **{k: user[k] for k in ("first_name", "last_name", "username") if k in user}}

    def _enqueue(self, content: dict) -> dict:
        update = {"update_id": next(self._update_ids), **content}
        self._updates.append(update)
        self._cond.notify_all()
        return copy.deepcopy(update)

    def _enqueue_membership(self, user_id: int, old: str, new: str) -> None:
        user = dict(self._users[user_id])
        member = lambda status: {"status": status, "user": dict(self.bot_user),  # noqa: E731
                                 **({"until_date": 0} if status == "kicked" else {})}
        self._enqueue({"my_chat_member": {"chat": self._chat(user_id), "from": user, "date": int(time.time()),
                                          "old_chat_member": member(old), "new_chat_member": member(new)}})

    @staticmethod
    def _scope_key(p: dict) -> str:
        scope = p.get("scope") or {"type": "default"}
        key = ":".join(str(part) for part in (scope["type"], scope.get("chat_id"), scope.get("user_id"))
                       if part is not None)
        return f"{key}/{p['language_code']}" if p.get("language_code") else key



def _trimmed(formatted: telegram_formatting.FormattedText) -> telegram_formatting.FormattedText:
    """Strip surrounding whitespace like Telegram, moving and clipping entities to match."""
    text = formatted.text.strip(_TRIMMED)
    if text == formatted.text:
        return formatted
    shift = telegram_formatting.utf16_len(formatted.text[:len(formatted.text) - len(formatted.text.lstrip(_TRIMMED))])
    size = telegram_formatting.utf16_len(text)
    entities = []
    for entity in formatted.entities:
        start = max(0, entity["offset"] - shift)
        end = min(size, entity["offset"] + entity["length"] - shift)
        if end > start:
            entities.append(dict(entity, offset=start, length=end - start))
    return telegram_formatting.FormattedText(text, entities)

