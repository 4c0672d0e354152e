"""HTTP front end of the Telegram emulator: api.telegram.org's wire format.

Serves /bot<token>/<method> (parameters from the query string, a urlencoded,
multipart or JSON body) and the /_emulator/* control interface used by the CLI.
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import re
import select
import socket
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from devtools.botapi_spec import Upload
from devtools.loopback_http import TrackedHandler, TrackedServer

if TYPE_CHECKING:
    from devtools.telegram_emulator import TelegramEmulator

_BOT_PATH = re.compile(r"/bot([^/]*)/([^/]*)")
_FILE_PATH = re.compile(r"/file/bot([^/]*)/(.+)")  # downloads: /file/bot<token>/<file_path from getFile>
# /_emulator/send fields passed on to user_sends_media, with how to read their wire strings.
_MEDIA_FIELDS = {"latitude": float, "longitude": float, "duration": int, "width": int, "height": int,
                 "phone_number": str, "file_name": str, "mime_type": str, "emoji": str}


class Server(TrackedServer):
    def __init__(self, address: tuple[str, int], emulator: TelegramEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, Handler)


class Handler(TrackedHandler):
    server: Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            raw = dict(parse_qsl(url.query, keep_blank_values=True))
            raw.update(decode_body(self.headers.get("Content-Type", ""), body))
        except ValueError:
            self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse request body"})
            return
        if url.path.startswith("/_emulator/"):
            self._control(url.path[len("/_emulator/"):], raw)
            return
        download = _FILE_PATH.fullmatch(url.path)
        if download is not None:
            self._send(*self.server.emulator.download(download.group(1), unquote(download.group(2))))
            return
        match = _BOT_PATH.fullmatch(url.path)
        if match is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        status, payload = self.server.emulator.handle_call(match.group(1), match.group(2), raw,
                                                           client_gone=self._client_gone)
        if status is None:  # a scripted "drop" (or a held call whose client left): close without answering
            self.close_connection = True
            return
        self._reply(status, payload)

    do_POST = do_GET

    def _client_gone(self) -> bool:
        """The client closed its end (it died, or gave up waiting): its socket reads end-of-file."""
        try:
            if not select.select([self.connection], [], [], 0)[0]:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _control(self, action: str, raw: dict) -> None:
        emulator = self.server.emulator
        try:
            if action == "send":
                result = _user_sends(emulator, raw)
            elif action == "press":
                result = emulator.user_presses(int(raw["user_id"]), int(raw["message_id"]), raw["callback_data"])
            elif action == "transcript":
                result = emulator.transcript(int(raw["chat_id"]))
            elif action == "calls":
                result = [vars(call) for call in emulator.calls]
            else:
                self._reply(404, {"ok": False, "description": f"unknown control action {action!r}"})
                return
        except (KeyError, ValueError, LookupError) as error:
            self._reply(400, {"ok": False, "description": f"{type(error).__name__}: {error}"})
            return
        self._reply(200, {"ok": True, "result": result})

    def _reply(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client went away (or stop() cut the connection)
            self.close_connection = True


def _user_sends(emulator: TelegramEmulator, raw: dict) -> dict:
    """/_emulator/send: a text (`text`), or media of another `kind` with its caption and fields. A file part
    named `content` in a multipart body is the file's bytes (its name the document's file_name)."""
    user_id = int(raw["user_id"])
    reply_to = int(raw["reply_to_message_id"]) if raw.get("reply_to_message_id") else None
    kind = raw.get("kind") or "text"
    if kind == "text":
        return emulator.user_sends(user_id, raw["text"], first_name=raw.get("first_name"),
                                   last_name=raw.get("last_name"), username=raw.get("username"),
                                   reply_to_message_id=reply_to)
    emulator.add_user(user_id, raw.get("first_name"), raw.get("last_name"), raw.get("username"))
    fields = {name: read(raw[name]) for name, read in _MEDIA_FIELDS.items() if raw.get(name)}
    content = raw.get("content")
    if isinstance(content, Upload):
        fields["content"] = content.data
        if kind == "document" and content.filename:
            fields.setdefault("file_name", content.filename)
    elif content:
        fields["content"] = content.encode("utf-8")
    return emulator.user_sends_media(user_id, kind, caption=raw.get("caption"), reply_to_message_id=reply_to,
                                     **fields)


def decode_body(content_type: str, body: bytes) -> dict[str, str | Upload]:
    """Parameters in a request body, as the wire strings the Bot API reads."""
    mime = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if mime == "application/json":
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("a JSON body must be an object")
        return {name: _wire_string(value) for name, value in document.items() if value is not None}
    if mime == "multipart/form-data":
        return _decode_multipart(content_type, body)
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _wire_string(value) -> str:
    """A JSON-body value as the Bot API sees it: strings as is, the rest as JSON text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _decode_multipart(content_type: str, body: bytes) -> dict[str, str | Upload]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    fields: dict[str, str | Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        fields[name] = Upload(filename, data) if filename is not None else data.decode("utf-8")
    return fields
