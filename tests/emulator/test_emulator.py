"""The Telegram emulator, driven by the real pyTelegramBotAPI client."""
import html
import threading
import time

import pytest
import requests
from telebot import apihelper, types

from devtools.emulator_methods import SPEC
from devtools.telegram_emulator import TelegramEmulator
from tests.emulator.conftest import ANN, TOKEN


def keyboard(*callback_data: str) -> types.InlineKeyboardMarkup:
    markup = types.InlineKeyboardMarkup()
    for data in callback_data:
        markup.add(types.InlineKeyboardButton(data, callback_data=data))
    return markup


def refused(call) -> apihelper.ApiTelegramException:
    with pytest.raises(apihelper.ApiTelegramException) as caught:
        call()
    return caught.value


def test_get_me(bot):
    me = bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "leadgram_test_bot")


def test_long_poll_blocks_until_an_update_arrives(emu, bot):
    threading.Timer(0.3, emu.user_sends, args=(ANN, "/start abc")).start()
    started = time.monotonic()
    updates = bot.get_updates(timeout=10, long_polling_timeout=5)
    assert 0.25 < time.monotonic() - started < 3
    message = updates[0].message
    assert (message.text, message.chat.id, message.from_user.first_name) == ("/start abc", ANN, "Ann")
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 6)]


def test_long_poll_times_out_empty(bot):
    started = time.monotonic()
    assert bot.get_updates(timeout=5, long_polling_timeout=1) == []
    assert 0.9 < time.monotonic() - started < 2


def poll_now(offset=None) -> list[str]:
    """getUpdates with timeout=0 (telebot's get_updates turns 0 into its 10 s default); returns texts."""
    updates = apihelper._make_request(TOKEN, "getUpdates", params={"offset": offset, "long_polling_timeout": 0})
    return [update["message"]["text"] for update in updates]


def test_updates_are_redelivered_until_confirmed_by_offset(emu, bot):
    first = emu.user_sends(ANN, "one")["update_id"]
    emu.user_sends(ANN, "two")
    assert poll_now() == ["one", "two"]
    assert poll_now() == ["one", "two"]  # a bot that crashed before confirming gets them again
    assert poll_now(offset=first + 1) == ["two"]
    assert poll_now() == ["two"]  # "one" is confirmed and forgotten
    assert poll_now(offset=first + 2) == []
    emu.user_sends(ANN, "three")
    emu.user_sends(ANN, "four")
    assert poll_now(offset=-1) == ["four"]  # a negative offset forgets all but the last updates
    assert poll_now() == ["four"]


def test_html_with_escaped_user_data_is_stored_as_plain_text(emu, bot):
    name = "O'Neil_Smith <b> &"
    sent = bot.send_message(ANN, f"Hi <b>{html.escape(name, quote=False)}</b>!", parse_mode="HTML")
    assert sent.text == "Hi O'Neil_Smith <b> &!"
    stored = emu.sent_messages(ANN)[-1]
    assert stored["text"] == "Hi O'Neil_Smith <b> &!"
    assert stored["raw_text"] == "Hi <b>O'Neil_Smith &lt;b&gt; &amp;</b>!"
    assert stored["entities"] == [{"type": "bold", "offset": 3, "length": 18}]
    assert emu.transcript(ANN) == [("bot", "Hi O'Neil_Smith <b> &!")]


@pytest.mark.parametrize("text, reason", [
    ("Hi <b>Ann", 'Can\'t find end tag corresponding to start tag "b"'),
    ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("Tom & Jerry", "Character '&' must be escaped"),
])
def test_broken_html_is_refused(emu, bot, text, reason):
    error = refused(lambda: bot.send_message(ANN, text, parse_mode="HTML"))
    assert error.error_code == 400
    assert error.description.startswith("Bad Request: can't parse entities: " + reason)
    assert emu.sent_messages() == []


def test_markdown_modes_and_unknown_parse_mode(bot):
    error = refused(lambda: bot.send_message(ANN, "Total: 5.00", parse_mode="MarkdownV2"))
    assert error.description == ("Bad Request: can't parse entities: Character '.' is reserved and must be "
                                 "escaped with the preceding '\\'")
    assert bot.send_message(ANN, "*Total:* 5\\.00", parse_mode="MarkdownV2").text == "Total: 5.00"
    error = refused(lambda: bot.send_message(ANN, "snake_case", parse_mode="Markdown"))
    assert error.description.endswith("Can't find end of the entity starting at byte offset 5")
    error = refused(lambda: bot.send_message(ANN, "x", parse_mode="BBCode"))
    assert error.description == "Bad Request: unsupported parse_mode"


def test_text_length_is_counted_in_utf16_after_parsing(bot):
    assert bot.send_message(ANN, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert refused(lambda: bot.send_message(ANN, "x" * 4097)).description == "Bad Request: message is too long"
    assert refused(lambda: bot.send_message(ANN, "😀" * 2049)).description == "Bad Request: message is too long"
    assert refused(lambda: bot.send_message(ANN, " \n ")).description == "Bad Request: message text is empty"


def test_callback_data_over_64_bytes_is_refused(bot):
    assert bot.send_message(ANN, "ok", reply_markup=keyboard("x" * 64))
    error = refused(lambda: bot.send_message(ANN, "too long", reply_markup=keyboard("x" * 65)))
    assert (error.error_code, error.description) == (400, "Bad Request: BUTTON_DATA_INVALID")
    error = refused(lambda: bot.send_message(ANN, "utf-8 bytes count", reply_markup=keyboard("ж" * 33)))
    assert error.description == "Bad Request: BUTTON_DATA_INVALID"


def test_spec_violations_are_recorded_and_refused(emu, bot):
    error = refused(lambda: apihelper._make_request(TOKEN, "sendMessage", params={
        "chat_id": ANN, "text": "hi", "colour": "red"}))
    assert error.error_code == 400 and 'unknown parameter "colour"' in error.description
    bad_button = '{"inline_keyboard": [[{"text": "A", "callback_data": 5}]]}'
    refused(lambda: apihelper._make_request(TOKEN, "sendMessage", params={
        "chat_id": ANN, "text": "hi", "reply_markup": bad_button}))
    refused(lambda: apihelper._make_request(TOKEN, "sendMessage", params={"chat_id": ANN}))
    assert [(v.method, v.parameter) for v in emu.violations] == [
        ("sendMessage", "colour"), ("sendMessage", "reply_markup"), ("sendMessage", "text")]
    assert "reply_markup.inline_keyboard[0][0].callback_data must be of type String" in emu.violations[1].reason
    assert emu.sent_messages() == []


def test_normal_telebot_calls_are_spec_clean(emu, bot):
    bot.delete_webhook()
    bot.set_my_commands([types.BotCommand("start", "Start over")], scope=types.BotCommandScopeChat(ANN))
    bot.set_my_commands([types.BotCommand("start", "Start")], language_code="en")
    sent = bot.send_message(ANN, "<i>Menu</i>", parse_mode="HTML", reply_markup=keyboard("a", "b"),
                            link_preview_options=types.LinkPreviewOptions(is_disabled=True))
    bot.send_chat_action(ANN, "typing")
    bot.edit_message_reply_markup(ANN, sent.message_id, reply_markup=keyboard("c"))
    emu.user_sends(ANN, "hi")
    bot.get_updates(offset=1, limit=10, long_polling_timeout=5, allowed_updates=["message", "callback_query"])
    assert emu.violations == []
    assert emu.commands == {"chat:111": [{"command": "start", "description": "Start over"}],
                            "default/en": [{"command": "start", "description": "Start"}]}


def test_results_match_the_spec(emu, bot):
    emu.user_sends(ANN, "/start")
    sent = apihelper._make_request(TOKEN, "sendMessage", params={
        "chat_id": ANN, "text": "<b>Pick</b>", "parse_mode": "HTML", "reply_markup": keyboard("a").to_json()})
    emu.user_presses(ANN, sent["message_id"], "a")
    emu.block(ANN)
    SPEC.check(sent, ["Message"], "sendMessage")
    for method, params, result_type in [("getMe", {}, "User"), ("getUpdates", {}, "Array of Update"),
                                        ("getChat", {"chat_id": ANN}, "ChatFullInfo"),
                                        ("getWebhookInfo", {}, "WebhookInfo")]:
        SPEC.check(apihelper._make_request(TOKEN, method, params=params), [result_type], method)


def test_edits_and_deletes(emu, bot):
    sent = bot.send_message(ANN, "Step 1", reply_markup=keyboard("next"))
    assert "message is not modified" in refused(
        lambda: bot.edit_message_text("Step 1", ANN, sent.message_id, reply_markup=keyboard("next"))).description
    edited = bot.edit_message_text("Step 2", ANN, sent.message_id)
    assert (edited.text, edited.reply_markup) == ("Step 2", None)  # no reply_markup: the keyboard goes
    assert emu.sent_messages(ANN)[0]["text"] == "Step 2"
    assert refused(lambda: bot.edit_message_text("x", ANN, 999)).description == \
        "Bad Request: message to edit not found"
    assert bot.delete_message(ANN, sent.message_id)
    assert emu.transcript(ANN) == []
    with pytest.raises(LookupError):
        emu.user_presses(ANN, sent.message_id, "next")


def test_unknown_chat_method_and_token(emu, bot):
    assert refused(lambda: bot.send_message(999, "hi")).description == "Bad Request: chat not found"
    assert refused(lambda: apihelper._make_request(TOKEN, "sendTelepathy")).error_code == 404
    assert refused(lambda: apihelper._make_request("123456:WRONG", "getMe")).error_code == 401
    assert emu.violations[-1].reason == "unknown method 'sendTelepathy'"


def test_429_fault_carries_retry_after(emu, bot):
    emu.fail(method="sendMessage", status=429, retry_after=3)
    error = refused(lambda: bot.send_message(ANN, "hi"))
    assert (error.error_code, error.description) == (429, "Too Many Requests: retry after 3")
    assert error.result_json["parameters"] == {"retry_after": 3}
    assert bot.send_message(ANN, "hi again").text == "hi again"  # times=1: the next call succeeds


def test_faults_fire_in_order_and_match_the_chat(emu, bot):
    emu.add_user(222)
    emu.fail("sendMessage", 500, chat_id=222)
    emu.fail("sendMessage", 400, description="Bad Request: not enough rights", times=2)
    outcomes = []
    for chat in (ANN, 222, 222, 222):
        try:
            bot.send_message(chat, "x")
            outcomes.append(200)
        except apihelper.ApiTelegramException as error:
            outcomes.append((error.error_code, error.description))
    assert outcomes == [(400, "Bad Request: not enough rights"), (500, "Internal Server Error"),
                        (400, "Bad Request: not enough rights"), 200]


def test_blocked_user_gives_403_until_unblocked(emu, bot):
    emu.block(ANN)
    error = refused(lambda: bot.send_message(ANN, "hi"))
    assert (error.error_code, error.description) == (403, "Forbidden: bot was blocked by the user")
    update = bot.get_updates(long_polling_timeout=5)[-1]
    assert update.my_chat_member.new_chat_member.status == "kicked"
    emu.unblock(ANN)
    assert bot.send_message(ANN, "welcome back")


def test_drop_fault_is_a_connection_error(emu, bot):
    emu.fail("getMe", "drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        bot.get_me()
    assert bot.get_me().username == "leadgram_test_bot"
    assert [call.status for call in emu.calls_to("getMe")] == [None, 200]


def test_global_rate_limit(emu, bot):
    for number in range(30):
        bot.send_message(ANN, f"broadcast {number}")
    error = refused(lambda: bot.send_message(ANN, "one too many"))
    assert error.error_code == 429 and error.result_json["parameters"]["retry_after"] >= 1
    emu.reset_rate_limits()
    assert bot.send_message(ANN, "after the window")


def test_per_chat_rate_limit(bot):
    with TelegramEmulator(TOKEN, per_chat_rate=1) as emulator:
        emulator.add_user(ANN)
        emulator.add_user(222)
        apihelper.API_URL = emulator.base_url + "/bot{0}/{1}"
        bot.send_message(ANN, "1")
        bot.send_message(222, "1")
        assert refused(lambda: bot.send_message(ANN, "2")).error_code == 429


def test_echo_bot_round_trip(emu, bot):
    @bot.message_handler(commands=["start"])
    def start(message):
        name = html.escape(message.from_user.first_name, quote=False)
        bot.send_message(message.chat.id, f"Hello, <b>{name}</b>", parse_mode="HTML", reply_markup=keyboard("save"))

    @bot.message_handler(func=lambda message: True)
    def echo(message):
        bot.reply_to(message, message.text)

    @bot.callback_query_handler(func=lambda query: True)
    def save(query):
        bot.answer_callback_query(query.id, "Saved")
        bot.edit_message_text("Saved ✔", query.message.chat.id, query.message.message_id)

    offset = None

    def poll_once():
        nonlocal offset
        updates = bot.get_updates(offset=offset, long_polling_timeout=5)
        if updates:
            offset = updates[-1].update_id + 1
        bot.process_new_updates(updates)

    emu.user_sends(ANN, "/start", first_name="Ann & <Co>")
    poll_once()
    greeting = emu.wait_for_message(ANN, contains="Hello")
    assert greeting["text"] == "Hello, Ann & <Co>"
    emu.user_sends(ANN, "ping")
    poll_once()
    emu.user_presses(ANN, greeting["message_id"], "save")
    poll_once()
    assert emu.transcript(ANN) == [("user", "/start"), ("bot", "Saved ✔"), ("user", "ping"), ("bot", "ping")]
    assert [call.status for call in emu.calls_to("answerCallbackQuery")] == [200]
    assert emu.violations == []


def test_wait_for_times_out_with_a_summary(emu, bot):
    bot.send_message(ANN, "hello")
    with pytest.raises(AssertionError, match=r"sendMessage\(chat_id=111, text='hello'\) -> 200"):
        emu.wait_for_message(ANN, contains="bye", timeout=0.1)


def test_stop_is_prompt_during_a_long_poll(bot):
    emulator = TelegramEmulator(TOKEN).start()
    apihelper.API_URL = emulator.base_url + "/bot{0}/{1}"
    outcome = []

    def long_poll():
        try:
            outcome.append(bot.get_updates(timeout=30, long_polling_timeout=25))
        except requests.exceptions.RequestException as error:  # stop() may cut the connection, even mid-body
            outcome.append(error)

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.2)  # let the long poll reach the server
    started = time.monotonic()
    emulator.stop()
    poller.join(5)
    assert not poller.is_alive() and time.monotonic() - started < 1
    assert outcome


def test_control_interface(emu, bot):
    update = requests.post(f"{emu.base_url}/_emulator/send", json={"user_id": 333, "text": "/start"}).json()
    assert update["result"]["message"]["text"] == "/start"
    bot.send_message(333, "Welcome")
    transcript = requests.get(f"{emu.base_url}/_emulator/transcript", params={"chat_id": 333}).json()
    assert transcript["result"] == [["user", "/start"], ["bot", "Welcome"]]
    calls = requests.get(f"{emu.base_url}/_emulator/calls").json()["result"]
    assert calls[-1]["method"] == "sendMessage" and calls[-1]["status"] == 200


def test_parameters_arrive_in_any_encoding(emu):
    url = f"{emu.base_url}/bot{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    replies = [
        requests.post(url, json={"chat_id": ANN, "text": "json", "reply_markup": markup,
                                 "disable_notification": True}),
        requests.post(url, data={"chat_id": ANN, "text": "form", "disable_notification": "true"}),
        requests.post(url, files={"chat_id": (None, str(ANN)), "text": (None, "multipart")}),
        requests.get(url, params={"chat_id": ANN, "text": "query"}),
    ]
    assert [reply.json()["result"]["text"] for reply in replies] == ["json", "form", "multipart", "query"]
    assert emu.calls_to("sendMessage")[0].params == {
        "chat_id": ANN, "text": "json", "reply_markup": markup, "disable_notification": True}
    upload = requests.post(f"{emu.base_url}/bot{TOKEN}/sendDocument", data={"chat_id": ANN, "caption": "cv"},
                           files={"document": ("cv.pdf", b"%PDF-")}).json()
    assert upload["ok"] and emu.transcript(ANN)[-1] == ("bot", "cv")
    assert emu.calls_to("sendDocument")[0].params["document"].filename == "cv.pdf"
    assert emu.violations == []
