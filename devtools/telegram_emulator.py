"""A Telegram Bot API emulator for tests and local runs.

A real HTTP server on 127.0.0.1 that answers /bot<token>/<method> like
api.telegram.org: every call is checked against the vendored official spec,
Telegram's limits and error replies are reproduced, and tests drive users
(messages, button presses, blocking) and scripted faults through this class.
See devtools/README.md.
"""
from __future__ import annotations

import copy
import itertools
import json
import re
import time
from typing import Any, Callable

from devtools import telegram_formatting
from devtools.emulator_media import FILE_KINDS, MEDIA_KINDS, media_object, shown
from devtools.emulator_methods import SPEC, STANDARD_ERRORS, ApiError, BotApiMethods, too_many_requests
from devtools.emulator_records import Call, Download, HeldCall, Violation, _Fault
from devtools.emulator_server import Server
from devtools.loopback_http import StandIn

# Telegram's bot-command pattern: "/cmd" or "/cmd@botname", not glued to a word, "/", "<" or ">".
_BOT_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")


class TelegramEmulator(StandIn, BotApiMethods):
    server_class = Server  # start(), stop(), base_url, `with`: devtools/loopback_http.py
    thread_name = "emulator"

    def __init__(self, token: str = "123456:TEST", bot_username: str = "test_bot", *, port: int = 0,
                 host: str = "127.0.0.1", global_rate: int | None = 30, per_chat_rate: int | None = None,
                 on_call: Callable[[Call], None] | None = None) -> None:
        """global_rate / per_chat_rate: message sends allowed per sliding second (None: no limit).
        on_call is called with every recorded Call (the CLI prints them)."""
        super().__init__(token, bot_username, global_rate, per_chat_rate)
        self._address, self._on_call = (host, port), on_call
        self._server: Server | None = None
        self._calls: list[Call] = []
        self._violations: list[Violation] = []
        self._faults: list[_Fault] = []
        self._delays: dict[tuple[str | None, str | None], float] = {}
        self._held: list[HeldCall] = []
        self._abandoned: list[HeldCall] = []
        self._downloads: list[Download] = []
        self._callback_ids = itertools.count(7_000_000_001)

    # ------------------------------------------------------------ simulated users

    def add_user(self, user_id: int, first_name: str | None = None, last_name: str | None = None,
                 username: str | None = None, language_code: str | None = None) -> dict:
        """Make a user known (as if they had opened the bot); given fields update the profile."""
        with self._cond:
            user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"})
            profile = {"first_name": first_name, "last_name": last_name, "username": username,
                       "language_code": language_code}
            user.update({key: value for key, value in profile.items() if value is not None})
            self._messages.setdefault(user_id, {})
            return dict(user)

    def user_sends(self, user_id: int, text: str, first_name: str | None = None, last_name: str | None = None,
                   username: str | None = None, *, reply_to_message_id: int | None = None) -> dict:
        """Queue a message from the user to the bot; returns the Update. Also unblocks the bot, like
        Telegram's "Restart bot" button. reply_to_message_id: the message of this chat it replies to
        (LookupError if there is none)."""
        with self._cond:
            self.add_user(user_id, first_name, last_name, username)
            content: dict[str, Any] = {"text": text}
            entities = [{"type": "bot_command", "offset": telegram_formatting.utf16_len(text[:m.start()]),
                         "length": telegram_formatting.utf16_len(m.group())} for m in _BOT_COMMAND.finditer(text)]
            if entities:
                content["entities"] = entities
            return self._user_message(user_id, content, reply_to_message_id)

    def user_sends_media(self, user_id: int, kind: str, /, *, caption: str | None = None,
                         reply_to_message_id: int | None = None, **fields) -> dict:
        """Queue a photo, document, voice, video, sticker, location or contact from the user; returns the
        Update. Also unblocks the bot, like user_sends.

        fields set the fields of the media object (Document, Voice, Contact...; for a photo, width and height
        of its largest size), over defaults; a None value leaves a field out. A location needs latitude and
        longitude; a contact defaults to the user's own card (phone number "+999<user id>"). Files also take
        content=b"..." (for a photo, its largest size's; default: a grey PNG of the right size for a photo,
        bytes made from the file name otherwise), kept for getFile and downloads. ValueError for an unknown
        kind or field, or a field of the wrong type; LookupError for a reply to a message the chat does not
        have."""
        if kind not in MEDIA_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MEDIA_KINDS)}, not {kind!r}")
        if caption is not None and kind in ("sticker", "location", "contact"):
            raise ValueError(f"a {kind} has no caption")  # Telegram's apps can't send one
        allowed = {f["name"] for f in SPEC.types[MEDIA_KINDS[kind]]["fields"]} - {"file_id", "file_unique_id",
                                                                                  "file_size"}
        if kind in FILE_KINDS:
            allowed.add("content")
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise ValueError(f"a {kind} has no field {', '.join(unknown)}; it has {', '.join(sorted(allowed))}")
        with self._cond:
            self.add_user(user_id)
            content: dict[str, Any] = {kind: media_object(kind, fields, self._users[user_id], self._store_file)}
            if caption is not None:
                content["caption"] = caption
            return self._user_message(user_id, content, reply_to_message_id)

    def user_presses(self, user_id: int, message_id: int, callback_data: str, *, require_button: bool = True) -> dict:
        """Queue a callback query for an inline button of a bot message; returns the Update.

        Raises LookupError if the bot sent no such message to the user, and ValueError if the message has
        no button with this callback_data (pass require_button=False to forge one)."""
        with self._cond:
            message = self._messages.get(user_id, {}).get(message_id)
            if message is None or message.get("deleted") or message["from"]["id"] != self.bot_user["id"]:
                raise LookupError(f"the bot has no message {message_id} in chat {user_id}")
            buttons = [button.get("callback_data") for row in (message.get("reply_markup") or {})
                       .get("inline_keyboard", []) for button in row]
            if require_button and callback_data not in buttons:
                raise ValueError(f"message {message_id} has no button with callback_data {callback_data!r}; "
                                 f"it has {buttons}")
            query_id = str(next(self._callback_ids))
            self._callback_queries[query_id] = False
            return self._enqueue({"callback_query": {
                "id": query_id, "from": dict(self._users[user_id]), "message": self._public(message),
                "chat_instance": str(-user_id * 7919), "data": callback_data}})

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to the chat get 403; the bot gets a my_chat_member update."""
        with self._cond:
            self.add_user(user_id)
            self._blocked.add(user_id)
            self._enqueue_membership(user_id, "member", "kicked")

    def unblock(self, user_id: int) -> None:
        with self._cond:
            if user_id in self._blocked:
                self._blocked.discard(user_id)
                self._enqueue_membership(user_id, "kicked", "member")

    def _user_message(self, user_id: int, content: dict, reply_to_message_id: int | None) -> dict:
        """Under the lock: store a message from a known user with this content, queue its Update."""
        message = {"message_id": self._next_message_id(user_id), "from": dict(self._users[user_id]),
                   "chat": self._chat(user_id), "date": int(time.time())}
        if reply_to_message_id is not None:
            replied = self._messages[user_id].get(reply_to_message_id)
            if replied is None or replied.get("deleted"):
                raise LookupError(f"chat {user_id} has no message {reply_to_message_id} to reply to")
            # Telegram nests one level only: the replied-to message comes without its own reply_to_message.
            message["reply_to_message"] = self._public(replied)
            message["reply_to_message"].pop("reply_to_message", None)
        message.update(content)
        # Whatever a test passes, the bot must get a Message that Telegram could have sent (ValueError if not).
        SPEC.check(message, ["Message"], "message")
        if user_id in self._blocked:
            self.unblock(user_id)
        self._messages[user_id][message["message_id"]] = message
        return self._enqueue({"message": copy.deepcopy(message)})

    # ------------------------------------------------------------ faults and limits

    def fail(self, method: str | None, status: int | str, *, retry_after: int = 1, times: int = 1,
             chat_id: int | str | None = None, description: str | None = None) -> None:
        """Script the next `times` matching calls to fail. method=None matches every method; status is an
        HTTP code (429 carries parameters.retry_after) or "drop" to close the connection unanswered."""
        canonical = None if method is None else SPEC.canonical_method(method)
        if method is not None and canonical is None:
            raise ValueError(f"{method!r} is not a Bot API method")
        if status != "drop" and not isinstance(status, int):
            raise ValueError(f"status must be an HTTP status code or \"drop\", not {status!r}")
        with self._cond:
            self._faults.append(_Fault(canonical, status, retry_after, times, chat_id, description))

    def delay(self, method: str | None, seconds: float | None, *, chat_id: int | str | None = None) -> None:
        """A slow network: hold each matching call `seconds` before Telegram sees it. method=None matches
        every method, chat_id one chat; a later call replaces the setting, and seconds=None (or 0) removes
        it, releasing the calls held so far. A call whose client goes away while it is held never reaches
        Telegram: it is not handled nor recorded in `calls`, but listed in `abandoned`."""
        canonical = None if method is None else SPEC.canonical_method(method)
        if method is not None and canonical is None:
            raise ValueError(f"{method!r} is not a Bot API method")
        key = (canonical, None if chat_id is None else str(chat_id))
        with self._cond:
            if seconds:
                self._delays[key] = float(seconds)
            else:
                self._delays.pop(key, None)

    def reset_rate_limits(self) -> None:
        with self._cond:
            self._sends.clear()
            self._chat_sends.clear()

    # ------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def held(self) -> list[HeldCall]:
        """Calls being held by delay() right now, oldest first."""
        with self._cond:
            return list(self._held)

    @property
    def abandoned(self) -> list[HeldCall]:
        """Held calls whose client went away before the delay ended: Telegram never saw them."""
        with self._cond:
            return list(self._abandoned)

    @property
    def violations(self) -> list[Violation]:
        with self._cond:
            return list(self._violations)

    @property
    def commands(self) -> dict[str, list]:
        """Last setMyCommands per scope: "default", "all_private_chats", "chat:<id>"...; "/<language>" appended
        when a language_code was given."""
        with self._cond:
            return copy.deepcopy(self._commands)

    @property
    def descriptions(self) -> dict[str, str]:
        """The setMyDescription texts by language_code ("" for everyone), removed ones left out."""
        with self._cond:
            return dict(self._descriptions["description"])

    @property
    def short_descriptions(self) -> dict[str, str]:
        """The setMyShortDescription texts by language_code ("" for everyone), removed ones left out."""
        with self._cond:
            return dict(self._descriptions["short_description"])

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file the emulator issued (KeyError for an unknown file_id)."""
        with self._cond:
            return self._files[file_id].content

    @property
    def downloads(self) -> list[Download]:
        """File downloads (GET /file/bot<token>/<file_path>), oldest first, failed ones included."""
        with self._cond:
            return list(self._downloads)

    def sent_messages(self, chat_id: int | None = None) -> list[dict]:
        """Messages the bot sent, oldest first, as currently stored (edits applied). Besides Telegram's
        Message fields: raw_text (as sent), parse_mode, sent_with (the method), deleted, and reply_markup
        of any kind."""
        with self._cond:
            return [copy.deepcopy(self._messages[chat][message_id]) for chat, message_id in self._bot_messages
                    if chat_id is None or chat == chat_id]

    def transcript(self, chat_id: int) -> list[tuple[str, str]]:
        """The chat as the user sees it: ("user" | "bot", text), deleted messages left out. Media show as
        "[photo] caption", "[document cv.pdf]", "[location 51.5, -0.1]"..."""
        with self._cond:
            return [("bot" if message["from"]["id"] == self.bot_user["id"] else "user", shown(message))
                    for message in self._messages.get(chat_id, {}).values() if not message.get("deleted")]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        """Poll predicate() until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout} s\n{self.summary()}")
            time.sleep(0.01)

    def wait_for_message(self, chat_id: int, contains: str = "", timeout: float = 10) -> dict:
        """Wait for the first bot message to the chat whose text (or caption) contains `contains`."""
        def find() -> dict | None:
            return next((m for m in self.sent_messages(chat_id)
                         if not m["deleted"] and contains in m.get("text", m.get("caption", ""))), None)
        try:
            return self.wait_for(find, timeout)
        except AssertionError as error:
            raise AssertionError(f"no bot message to chat {chat_id} containing {contains!r}; {error}") from None

    def summary(self, last: int = 20) -> str:
        """Recent calls and all violations, for failure messages."""
        lines = [f"last {last} Bot API calls:"]
        for call in self.calls[-last:]:
            outcome = "dropped" if call.status is None else call.status
            if call.status not in (None, 200):
                outcome = f"{outcome} {call.response['description']}"
            params = ", ".join(f"{name}={value!r:.60}" for name, value in call.params.items())
            lines.append(f"  {call.method}({params}) -> {outcome}")
        lines += [f"violation: {violation}" for violation in self.violations]
        return "\n".join(lines)

    # ------------------------------------------------------------ dispatch (called by the HTTP server)

    def handle_call(self, token: str, method_name: str, raw: dict,
                    client_gone: Callable[[], bool] | None = None) -> tuple[int | None, dict | None]:
        """Answer one Bot API request: (HTTP status, JSON reply), or (None, None) to drop the connection.
        client_gone() says whether the client has closed its connection (checked while a call is held)."""
        method = SPEC.canonical_method(method_name) or method_name
        params: dict = raw
        if not self._hold(method, raw, client_gone or (lambda: False)):
            return None, None
        with self._cond:
            try:
                if token != self.token:
                    raise ApiError(401, "Unauthorized")
                if method not in SPEC.methods:
                    self._violations.append(Violation(method, "", f"unknown method {method!r}"))
                    raise ApiError(404, "Not Found")
                fault = self._take_fault(method, raw.get("chat_id"))
                if fault == "drop":
                    status, response = None, None
                else:
                    if fault:
                        raise fault
                    params, problems = SPEC.decode(method, raw)
                    if problems:
                        self._violations += [Violation(method, p.parameter, p.reason) for p in problems]
                        raise ApiError(400, "Bad Request: " + "; ".join(p.reason for p in problems))
                    result = self._handlers.get(method, lambda p: self._generic(method, p))(params)
                    status, response = 200, {"ok": True, "result": copy.deepcopy(result)}
            except ApiError as error:
                status, response = error.status, error.payload()
            call = Call(method, params, status, response, time.monotonic())
            self._calls.append(call)
        if self._on_call:
            self._on_call(call)
        return status, response

    def download(self, token: str, file_path: str) -> tuple[int, bytes, str]:
        """Answer GET /file/bot<token>/<file_path>: (HTTP status, body, Content-Type). The file's bytes, or
        Telegram's JSON error reply: 401 for a wrong token, 404 for a path getFile never gave."""
        with self._cond:
            stored = next((f for f in self._files.values() if f.file_path == file_path), None)
            if token != self.token:
                status, body, content_type = 401, ApiError(401, "Unauthorized").payload(), "application/json"
            elif stored is None:
                status, body, content_type = 404, ApiError(404, "Not Found").payload(), "application/json"
            else:
                status, body, content_type = 200, stored.content, stored.mime_type
            self._downloads.append(Download(file_path, status, time.monotonic()))
        if isinstance(body, dict):
            body = json.dumps(body).encode("utf-8")
        return status, body, content_type

    def _delay_for(self, method: str, chat_id) -> float:
        """Under the lock: the delay setting that matches, the most specific first."""
        chat = None if chat_id is None else str(chat_id)
        for key in ((method, chat), (method, None), (None, chat), (None, None)):
            if key in self._delays and (key[1] is None or chat is not None):
                return self._delays[key]
        return 0.0

    def _hold(self, method: str, raw: dict, client_gone: Callable[[], bool]) -> bool:
        """Wait out delay(); False when the client went away (or the emulator stopped) meanwhile."""
        with self._cond:
            if not self._delays or not self._delay_for(method, raw.get("chat_id")):
                return True
            held = HeldCall(method, dict(raw), time.monotonic())
            self._held.append(held)
        try:
            while True:
                with self._cond:
                    due = held.received_at + self._delay_for(method, raw.get("chat_id"))
                    stopping = self._stopping
                if stopping or client_gone():
                    with self._cond:
                        self._abandoned.append(held)
                    return False
                if time.monotonic() >= due:
                    return True
                time.sleep(min(0.01, max(0.0, due - time.monotonic())))
        finally:
            with self._cond:
                self._held.remove(held)

    def _take_fault(self, method: str, chat_id) -> ApiError | str | None:
        for fault in self._faults:
            if fault.method not in (None, method):
                continue
            if fault.chat_id is not None and str(fault.chat_id) != str(chat_id):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.status == "drop":
                return "drop"
            if fault.status == 429:
                return too_many_requests(fault.retry_after)
            return ApiError(fault.status, fault.description or STANDARD_ERRORS.get(fault.status, "Error"))
        return None


if __name__ == "__main__":  # python -m devtools.telegram_emulator: devtools/emulator_cli.py
    from devtools.emulator_cli import main
    main()
