"""Customer media in the emulator: user media and replies, copyMessage, getFile and downloads, descriptions."""
import struct
import zlib

import pytest
import requests
from telebot import apihelper

from devtools.emulator_methods import SPEC
from devtools.telegram_emulator import TelegramEmulator
from tests.emulator.conftest import ANN, BOB, TOKEN

FILE_FIELDS = {"file_id", "file_unique_id", "file_size"}


def refused(call) -> apihelper.ApiTelegramException:
    with pytest.raises(apihelper.ApiTelegramException) as caught:
        call()
    return caught.value


def poll_now() -> list[dict]:
    """The pending updates as raw JSON (timeout 0: telebot's get_updates turns 0 into its 10 s default)."""
    return apihelper._make_request(TOKEN, "getUpdates", params={"long_polling_timeout": 0})


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking that it is one (signature, chunk CRCs, pixel data)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        assert struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        position += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (width + 1)  # greyscale rows and their filter bytes
    assert b"IEND" in chunks
    return width, height


def download(emu: TelegramEmulator, path: str, token: str = TOKEN) -> requests.Response:
    return requests.get(f"{emu.base_url}/file/bot{token}/{path}")


# ------------------------------------------------------------ users send media

@pytest.mark.parametrize("kind, fields, expected", [
    ("document", {"file_name": "cv.pdf"}, {"file_name": "cv.pdf", "mime_type": "application/pdf"}),
    ("voice", {"duration": 7}, {"duration": 7, "mime_type": "audio/ogg"}),
    ("video", {}, {"width": 640, "height": 360, "duration": 5, "mime_type": "video/mp4"}),
    ("sticker", {"emoji": "🔥"}, {"type": "regular", "emoji": "🔥", "is_animated": False, "is_video": False,
                                  "width": 512, "height": 512}),
])
def test_file_media_arrive_with_the_documented_fields(emu, bot, kind, fields, expected):
    sent = emu.user_sends_media(ANN, kind, **fields)
    update = poll_now()[-1]
    assert update == sent
    media = update["message"][kind]
    assert media == {**expected, **{name: media[name] for name in FILE_FIELDS}}
    assert media["file_size"] == len(emu.file_content(media["file_id"])) > 0
    SPEC.check(update, ["Update"], "update")
    message = bot.get_updates(long_polling_timeout=0)[-1].message  # the real client parses it
    assert (message.content_type, getattr(message, kind).file_id) == (kind, media["file_id"])


def test_photo_arrives_as_sizes_of_valid_pngs(emu, bot):
    emu.user_sends_media(ANN, "photo", caption="my receipt")
    message = poll_now()[-1]["message"]
    assert message["caption"] == "my receipt"
    assert [(size["width"], size["height"]) for size in message["photo"]] == [(90, 68), (320, 240), (800, 600)]
    for size in message["photo"]:
        assert size.keys() == FILE_FIELDS | {"width", "height"}
        content = emu.file_content(size["file_id"])
        assert size["file_size"] == len(content)
        assert png_size(content) == (size["width"], size["height"])
    assert len({size["file_id"] for size in message["photo"]}) == 3
    SPEC.check(message, ["Message"], "message")
    assert bot.get_updates(long_polling_timeout=0)[-1].message.photo[-1].width == 800


def test_small_photo_has_one_size_and_the_given_content(emu):
    photo = emu.user_sends_media(ANN, "photo", width=64, height=48, content=b"not really a png")["message"]["photo"]
    assert [(size["width"], size["height"], size["file_size"]) for size in photo] == [(64, 48, 16)]
    assert emu.file_content(photo[0]["file_id"]) == b"not really a png"


def test_location_and_contact(emu, bot):
    emu.user_sends_media(ANN, "location", latitude=51.5007, longitude=-0.1246)
    emu.user_sends_media(ANN, "contact")  # the user's own card, as a "share my phone number" button sends it
    emu.user_sends_media(ANN, "contact", phone_number="+441632960961", first_name="Bob", last_name="Lee",
                         user_id=None)
    location, own, other = (update["message"] for update in poll_now())
    assert location["location"] == {"latitude": 51.5007, "longitude": -0.1246}
    assert own["contact"] == {"phone_number": f"+999{ANN}", "first_name": "Ann", "user_id": ANN}
    assert other["contact"] == {"phone_number": "+441632960961", "first_name": "Bob", "last_name": "Lee"}
    assert "caption" not in location and "text" not in location
    parsed = [update.message for update in bot.get_updates(long_polling_timeout=0)]
    assert [m.content_type for m in parsed] == ["location", "contact", "contact"]
    assert (parsed[0].location.latitude, parsed[1].contact.user_id) == (51.5007, ANN)


def test_document_keeps_the_given_name_content_and_caption(emu):
    message = emu.user_sends_media(ANN, "document", caption="CV attached", file_name="Ann Smith.docx",
                                   content=b"PK\x03\x04 docx")["message"]
    document = message["document"]
    assert (document["file_name"], document["file_size"], message["caption"]) == ("Ann Smith.docx", 9, "CV attached")
    assert document["mime_type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert emu.file_content(document["file_id"]) == b"PK\x03\x04 docx"
    default = emu.user_sends_media(ANN, "document")["message"]["document"]
    assert (default["file_name"], default["mime_type"]) == ("document.pdf", "application/pdf")
    assert b"document.pdf" in emu.file_content(default["file_id"])  # made from the file name


def test_bad_media_is_a_test_error_and_sends_nothing(emu, bot):
    with pytest.raises(ValueError, match="kind must be one of"):
        emu.user_sends_media(ANN, "hologram")
    with pytest.raises(ValueError, match="a voice has no field file_name"):
        emu.user_sends_media(ANN, "voice", file_name="x.ogg")
    with pytest.raises(ValueError, match="a sticker has no caption"):
        emu.user_sends_media(ANN, "sticker", caption="lol")
    with pytest.raises(ValueError, match="latitude must be of type Float"):
        emu.user_sends_media(ANN, "location", latitude="north", longitude=0.0)
    with pytest.raises(ValueError, match='field "latitude" of Location is required'):
        emu.user_sends_media(ANN, "location", longitude=0.0)
    with pytest.raises(ValueError, match="positive integers"):
        emu.user_sends_media(ANN, "photo", width=0)
    assert poll_now() == [] and emu.transcript(ANN) == []


def test_media_from_a_user_who_blocked_the_bot_unblocks_it(emu, bot):
    emu.block(ANN)
    emu.user_sends_media(ANN, "voice")
    assert [next(key for key in update if key != "update_id") for update in poll_now()] == [
        "my_chat_member", "my_chat_member", "message"]
    assert bot.send_message(ANN, "got your voice message")


def test_transcript_shows_media_readably(emu, bot):
    emu.add_user(ANN, last_name="Smith")
    emu.user_sends_media(ANN, "photo", caption="receipt")
    emu.user_sends_media(ANN, "photo")
    emu.user_sends_media(ANN, "document", file_name="cv.pdf", caption="my CV")
    emu.user_sends_media(ANN, "voice")
    emu.user_sends_media(ANN, "video", caption="unboxing")
    emu.user_sends_media(ANN, "sticker", emoji="🙏")
    emu.user_sends_media(ANN, "location", latitude=51.5, longitude=-0.12)
    emu.user_sends_media(ANN, "contact", phone_number="+441632960961")
    bot.copy_message(ANN, ANN, 1, caption="copied")
    assert emu.transcript(ANN) == [
        ("user", "[photo] receipt"), ("user", "[photo]"), ("user", "[document cv.pdf] my CV"), ("user", "[voice]"),
        ("user", "[video] unboxing"), ("user", "[sticker 🙏]"), ("user", "[location 51.5, -0.12]"),
        ("user", "[contact Ann Smith +441632960961]"), ("bot", "[photo] copied")]


# ------------------------------------------------------------ replies

def test_user_reply_carries_the_replied_message(emu, bot):
    question = bot.send_message(ANN, "Which size?")
    update = emu.user_sends(ANN, "XL", reply_to_message_id=question.message_id)
    replied = poll_now()[-1]["message"]["reply_to_message"]
    assert replied == update["message"]["reply_to_message"]
    assert (replied["message_id"], replied["text"], replied["from"]["id"]) == (question.message_id, "Which size?",
                                                                              123456)
    assert "raw_text" not in replied and "sent_with" not in replied  # the public form, as Telegram sends it
    photo = emu.user_sends_media(ANN, "photo", caption="this one", reply_to_message_id=question.message_id)
    assert photo["message"]["reply_to_message"]["text"] == "Which size?"
    message = bot.get_updates(long_polling_timeout=0)[-1].message
    assert (message.reply_to_message.message_id, message.caption) == (question.message_id, "this one")
    SPEC.check(photo, ["Update"], "update")


def test_reply_to_a_reply_is_nested_one_level_only(emu):
    first = emu.user_sends(ANN, "a")["message"]["message_id"]
    second = emu.user_sends(ANN, "b", reply_to_message_id=first)["message"]
    third = emu.user_sends(ANN, "c", reply_to_message_id=second["message_id"])["message"]
    assert second["reply_to_message"]["text"] == "a"
    assert third["reply_to_message"]["text"] == "b"
    assert "reply_to_message" not in third["reply_to_message"]
    assert "reply_to_message" in emu.user_sends(ANN, "d", reply_to_message_id=second["message_id"])["message"]


def test_reply_to_a_missing_message_is_a_lookup_error(emu, bot):
    ann_only = emu.user_sends(ANN, "hello")["message"]["message_id"]
    deleted = bot.send_message(ANN, "oops").message_id
    bot.delete_message(ANN, deleted)
    for user_id, message_id in [(ANN, 99), (BOB, ann_only), (ANN, deleted)]:
        with pytest.raises(LookupError, match=f"chat {user_id} has no message {message_id}"):
            emu.user_sends(user_id, "re", reply_to_message_id=message_id)
    with pytest.raises(LookupError):
        emu.user_sends_media(ANN, "voice", reply_to_message_id=99)
    assert len(poll_now()) == 1  # only "hello"


# ------------------------------------------------------------ copyMessage

def test_copy_a_customer_photo_to_a_manager_with_a_new_caption(emu, bot):
    photo = emu.user_sends_media(ANN, "photo", caption="my receipt")["message"]
    copied = bot.copy_message(BOB, ANN, photo["message_id"], caption="<b>From Ann:</b> my receipt",
                              parse_mode="HTML")
    result = emu.calls_to("copyMessage")[-1].response["result"]
    assert result == {"message_id": copied.message_id} == {"message_id": 1}
    SPEC.check(result, ["MessageId"], "copyMessage")
    stored = emu.sent_messages(BOB)[-1]
    assert (stored["message_id"], stored["sent_with"], stored["from"]["id"]) == (1, "copyMessage", 123456)
    assert stored["photo"] == photo["photo"]  # the same files, as on Telegram
    assert stored["caption"] == "From Ann: my receipt"
    assert stored["caption_entities"] == [{"type": "bold", "offset": 0, "length": 9}]
    assert "forward_origin" not in stored  # a copy has no link to the original
    assert emu.transcript(BOB) == [("bot", "[photo] From Ann: my receipt")]
    assert emu.wait_for_message(BOB, contains="my receipt", timeout=1)["message_id"] == 1
    assert emu.violations == []


def test_copy_keeps_or_removes_the_original_caption(emu, bot):
    document = emu.user_sends_media(ANN, "document", caption="invoice", file_name="inv.pdf")["message"]
    bot.copy_message(BOB, ANN, document["message_id"])
    bot.copy_message(BOB, ANN, document["message_id"], caption="")
    kept, removed = emu.sent_messages(BOB)
    assert (kept["document"], kept["caption"]) == (document["document"], "invoice")
    assert removed["document"] == document["document"] and "caption" not in removed
    long_caption = refused(lambda: bot.copy_message(BOB, ANN, document["message_id"], caption="x" * 1025))
    assert (long_caption.error_code, long_caption.description) == (400, "Bad Request: message caption is too long")
    assert bot.copy_message(BOB, ANN, document["message_id"], caption="x" * 1024)


def test_copy_a_text_and_a_location(emu, bot):
    text = emu.user_sends(ANN, "call me /start")["message"]
    location = emu.user_sends_media(ANN, "location", latitude=1.5, longitude=2.5)["message"]
    bot.copy_message(BOB, ANN, text["message_id"], caption="ignored: a text has no caption")
    bot.copy_message(BOB, ANN, location["message_id"], reply_markup='{"inline_keyboard": '
                     '[[{"text": "Reply", "callback_data": "reply:111"}]]}')
    copied_text, copied_location = emu.sent_messages(BOB)
    assert (copied_text["text"], copied_text["entities"]) == (text["text"], text["entities"])
    assert "caption" not in copied_text
    assert copied_location["location"] == {"latitude": 1.5, "longitude": 2.5}
    assert copied_location["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "reply:111"
    emu.user_presses(BOB, copied_location["message_id"], "reply:111")  # a bot message like any other
    assert emu.transcript(BOB) == [("bot", "call me /start"), ("bot", "[location 1.5, 2.5]")]


def test_copy_of_a_missing_message_is_refused(emu, bot):
    emu.user_sends(ANN, "hi")
    deleted = bot.send_message(ANN, "gone").message_id
    bot.delete_message(ANN, deleted)
    for message_id in (99, deleted):
        error = refused(lambda message_id=message_id: bot.copy_message(BOB, ANN, message_id))
        assert (error.error_code, error.description) == (400, "Bad Request: message to copy not found")
    error = refused(lambda: bot.copy_message(BOB, 999, 1))
    assert (error.error_code, error.description) == (400, "Bad Request: chat not found")
    error = refused(lambda: bot.copy_message(999, ANN, 1))
    assert (error.error_code, error.description) == (400, "Bad Request: chat not found")
    assert emu.sent_messages(BOB) == []


def test_copy_to_a_blocked_user_is_forbidden(emu, bot):
    photo = emu.user_sends_media(ANN, "photo")["message"]
    emu.block(BOB)
    error = refused(lambda: bot.copy_message(BOB, ANN, photo["message_id"]))
    assert (error.error_code, error.description) == (403, "Forbidden: bot was blocked by the user")
    assert emu.sent_messages(BOB) == []
    emu.unblock(BOB)
    emu.block(ANN)  # only the target counts: a message can be copied out of a chat that blocked the bot
    assert bot.copy_message(BOB, ANN, photo["message_id"]).message_id == 1


def test_copies_count_against_the_rate_limit(emu, bot):
    text = emu.user_sends(ANN, "hi")["message"]
    for _ in range(30):
        bot.copy_message(BOB, ANN, text["message_id"])
    error = refused(lambda: bot.copy_message(BOB, ANN, text["message_id"]))
    assert error.error_code == 429 and error.result_json["parameters"]["retry_after"] >= 1
    assert refused(lambda: bot.send_message(ANN, "also limited")).error_code == 429
    assert len(emu.sent_messages(BOB)) == 30


def test_copy_message_is_checked_against_the_spec(emu, bot):
    emu.user_sends(ANN, "hi")
    error = refused(lambda: apihelper._make_request(TOKEN, "copyMessage", params={
        "chat_id": BOB, "from_chat_id": ANN, "message_id": "first"}))
    assert error.error_code == 400 and "message_id must be of type Integer" in error.description
    refused(lambda: apihelper._make_request(TOKEN, "copyMessage", params={"chat_id": BOB, "message_id": 1}))
    assert [(v.method, v.parameter) for v in emu.violations] == [("copyMessage", "message_id"),
                                                                 ("copyMessage", "from_chat_id")]
    assert emu.sent_messages() == []


def test_generic_send_methods_still_work_with_file_ids(emu, bot):
    photo = emu.user_sends_media(ANN, "photo")["message"]["photo"]
    sent = bot.send_photo(BOB, photo[-1]["file_id"], caption="relayed")
    assert sent.caption == "relayed"
    stored = emu.sent_messages(BOB)[-1]
    assert (stored["sent_with"], stored["caption"]) == ("sendPhoto", "relayed")
    assert emu.violations == []


# ------------------------------------------------------------ getFile and downloads

def test_get_file_and_download_the_bytes(emu, bot, monkeypatch):
    document = emu.user_sends_media(ANN, "document", file_name="cv.pdf", content=b"%PDF-1.4 Ann")["message"]
    file = bot.get_file(document["document"]["file_id"])
    assert (file.file_id, file.file_unique_id, file.file_size) == (
        document["document"]["file_id"], document["document"]["file_unique_id"], 12)
    assert file.file_path.startswith("documents/") and file.file_path.endswith(".pdf")
    SPEC.check(emu.calls_to("getFile")[-1].response["result"], ["File"], "getFile")
    reply = download(emu, file.file_path)
    assert (reply.status_code, reply.content, reply.headers["Content-Type"]) == (200, b"%PDF-1.4 Ann",
                                                                                 "application/pdf")
    monkeypatch.setattr(apihelper, "FILE_URL", emu.base_url + "/file/bot{0}/{1}")
    assert bot.download_file(file.file_path) == b"%PDF-1.4 Ann"  # the real client's download
    assert [(d.file_path, d.status) for d in emu.downloads] == [(file.file_path, 200)] * 2
    assert [call.status for call in emu.calls_to("getFile")] == [200]
    assert emu.violations == []


def test_download_a_photo(emu, bot):
    largest = emu.user_sends_media(ANN, "photo")["message"]["photo"][-1]
    path = bot.get_file(largest["file_id"]).file_path
    reply = download(emu, path)
    assert reply.headers["Content-Type"] == "image/png"
    assert png_size(reply.content) == (800, 600)


def test_get_file_of_an_unknown_id_is_refused(emu, bot):
    error = refused(lambda: bot.get_file("AgACAgIAAxkBAAIBaWZ"))
    assert (error.error_code, error.description) == (400, "Bad Request: invalid file_id")
    assert [call.status for call in emu.calls_to("getFile")] == [400]


def test_download_with_a_wrong_token_or_an_unknown_path(emu, bot):
    voice = emu.user_sends_media(ANN, "voice")["message"]["voice"]
    path = bot.get_file(voice["file_id"]).file_path
    wrong_token = download(emu, path, token="123456:WRONG")
    assert (wrong_token.status_code, wrong_token.json()["description"]) == (401, "Unauthorized")
    unknown = download(emu, "voice/file_999.oga")
    assert (unknown.status_code, unknown.json()) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert download(emu, path).content == emu.file_content(voice["file_id"])
    assert [d.status for d in emu.downloads] == [401, 404, 200]
    assert emu.calls_to("getFile")[-1].status == 200 and len(emu.calls) == 1  # downloads are not API calls


# ------------------------------------------------------------ descriptions

def test_descriptions_are_kept_per_language(emu, bot):
    assert bot.set_my_description("We answer within an hour.")
    assert bot.set_my_description("Wir antworten binnen einer Stunde.", language_code="de")
    assert bot.set_my_short_description("Leads, fast.")
    assert bot.get_my_description().description == "We answer within an hour."
    assert bot.get_my_description("de").description == "Wir antworten binnen einer Stunde."
    assert bot.get_my_description("fr").description == ""
    assert bot.get_my_short_description().short_description == "Leads, fast."
    assert bot.get_my_short_description("de").short_description == ""
    assert emu.descriptions == {"": "We answer within an hour.", "de": "Wir antworten binnen einer Stunde."}
    assert emu.short_descriptions == {"": "Leads, fast."}
    assert bot.set_my_description("", language_code="de")  # an empty text removes it
    assert emu.descriptions == {"": "We answer within an hour."}
    for method, result_type in [("getMyDescription", "BotDescription"),
                                ("getMyShortDescription", "BotShortDescription")]:
        SPEC.check(emu.calls_to(method)[-1].response["result"], [result_type], method)
    assert emu.violations == []


def test_too_long_descriptions_are_refused(emu, bot):
    assert bot.set_my_description("d" * 512) and bot.set_my_short_description("s" * 120)
    error = refused(lambda: bot.set_my_description("d" * 513))
    assert (error.error_code, error.description) == (400, "Bad Request: description is too long")
    error = refused(lambda: bot.set_my_short_description("s" * 121, language_code="en"))
    assert (error.error_code, error.description) == (400, "Bad Request: short description is too long")
    assert emu.descriptions == {"": "d" * 512} and emu.short_descriptions == {"": "s" * 120}


# ------------------------------------------------------------ the HTTP control interface

def test_control_interface_sends_media_and_replies(emu, bot):
    send = f"{emu.base_url}/_emulator/send"
    first = requests.post(send, json={"user_id": 333, "text": "hi", "first_name": "Cy"}).json()["result"]
    photo = requests.post(send, json={"user_id": 333, "kind": "photo", "caption": "look",
                                      "reply_to_message_id": first["message"]["message_id"]}).json()["result"]
    assert photo["message"]["caption"] == "look" and len(photo["message"]["photo"]) == 3
    assert photo["message"]["reply_to_message"]["text"] == "hi"
    location = requests.post(send, data={"user_id": 333, "kind": "location", "latitude": "51.5",
                                         "longitude": "-0.12"}).json()["result"]
    assert location["message"]["location"] == {"latitude": 51.5, "longitude": -0.12}
    contact = requests.post(send, json={"user_id": 333, "kind": "contact", "phone_number": "+441632960961"})
    assert contact.json()["result"]["message"]["contact"] == {"phone_number": "+441632960961", "first_name": "Cy",
                                                              "user_id": 333}
    upload = requests.post(send, data={"user_id": 333, "kind": "document"},
                           files={"content": ("quote.pdf", b"%PDF quote")}).json()["result"]
    document = upload["message"]["document"]
    assert (document["file_name"], emu.file_content(document["file_id"])) == ("quote.pdf", b"%PDF quote")
    transcript = requests.get(f"{emu.base_url}/_emulator/transcript", params={"chat_id": 333}).json()["result"]
    assert transcript == [["user", "hi"], ["user", "[photo] look"], ["user", "[location 51.5, -0.12]"],
                          ["user", "[contact Cy +441632960961]"], ["user", "[document quote.pdf]"]]
    for bad in ({"user_id": 333, "kind": "hologram"}, {"user_id": 333, "kind": "location"},
                {"user_id": 333, "text": "re", "reply_to_message_id": 99}):
        reply = requests.post(send, json=bad)
        assert reply.status_code == 400 and not reply.json()["ok"]
    assert len(poll_now()) == 5
