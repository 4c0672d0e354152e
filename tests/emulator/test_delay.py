"""The emulator's latency injection: delay(), held and abandoned calls."""
import json
import socket
import threading
import time

import pytest

from devtools.telegram_emulator import TelegramEmulator
from tests.emulator.conftest import ANN, BOB, TOKEN


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_delay_holds_matching_calls_before_telegram_sees_them(emu, bot):
    emu.delay("sendMessage", 0.4)
    before = time.monotonic()
    message, took = timed(lambda: bot.send_message(ANN, "slow"))
    assert message.text == "slow" and 0.38 < took < 1.5
    assert emu.calls_to("sendMessage")[-1].at - before >= 0.38  # recorded when handled, after the hold
    _, took = timed(bot.get_me)
    assert took < 0.3  # other methods are not held
    emu.delay("sendMessage", None)
    _, took = timed(lambda: bot.send_message(ANN, "fast"))
    assert took < 0.3
    assert emu.held == [] and emu.abandoned == []


def test_delay_for_one_chat_only(emu, bot):
    emu.delay("sendMessage", 0.4, chat_id=ANN)
    _, to_bob = timed(lambda: bot.send_message(BOB, "hi"))
    _, to_ann = timed(lambda: bot.send_message(ANN, "hi"))
    assert to_bob < 0.3 and to_ann >= 0.38


def test_a_held_call_is_visible_and_removing_the_delay_releases_it(emu, bot):
    emu.delay(None, 30)
    result = []
    sender = threading.Thread(target=lambda: result.append(bot.send_message(ANN, "held")))
    sender.start()
    held = emu.wait_for(lambda: emu.held, timeout=5)
    assert held[0].method == "sendMessage" and held[0].params["chat_id"] == str(ANN)
    assert emu.sent_messages(ANN) == []  # Telegram has not seen it yet
    released = time.monotonic()
    emu.delay(None, None)
    sender.join(5)
    assert result and result[0].text == "held" and time.monotonic() - released < 1
    assert emu.held == [] and [m["text"] for m in emu.sent_messages(ANN)] == ["held"]


def raw_request(emu, method, params):
    """Send a Bot API request on a bare socket and return it, unanswered."""
    host, port = emu.base_url.removeprefix("http://").split(":")
    body = json.dumps(params).encode()
    connection = socket.create_connection((host, int(port)))
    connection.sendall(f"POST /bot{TOKEN}/{method} HTTP/1.1\r\nHost: {host}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                       .encode() + body)
    return connection


def test_a_call_whose_client_dies_while_held_never_reaches_telegram(emu):
    emu.delay("sendMessage", 30)
    connection = raw_request(emu, "sendMessage", {"chat_id": ANN, "text": "never"})
    emu.wait_for(lambda: emu.held, timeout=5)
    connection.close()  # as when the sender is killed
    abandoned = emu.wait_for(lambda: emu.abandoned, timeout=5)
    assert [(c.method, c.params["text"]) for c in abandoned] == [("sendMessage", "never")]
    assert emu.held == [] and emu.calls_to("sendMessage") == [] and emu.sent_messages(ANN) == []


def test_a_client_that_keeps_waiting_is_answered(emu):
    emu.delay("sendMessage", 0.3)
    connection = raw_request(emu, "sendMessage", {"chat_id": ANN, "text": "patient"})
    connection.settimeout(5)
    answer = b""
    while b'"patient"' not in answer:  # the head and the body may come in separate packets
        chunk = connection.recv(65536)
        if not chunk:
            break
        answer += chunk
    connection.close()
    assert answer.startswith(b"HTTP/1.1 200") and b'"text": "patient"' in answer
    assert emu.abandoned == []


def test_stop_ends_held_calls_promptly():
    emulator = TelegramEmulator(TOKEN).start()
    emulator.add_user(ANN)
    emulator.delay("sendMessage", 60)
    connection = raw_request(emulator, "sendMessage", {"chat_id": ANN, "text": "x"})
    emulator.wait_for(lambda: emulator.held, timeout=5)
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    while emulator.held and time.monotonic() - started < 2:  # its thread lets go just after
        time.sleep(0.01)
    assert emulator.held == [] and len(emulator.abandoned) == 1
    connection.close()


def test_delay_refuses_unknown_methods(emu):
    with pytest.raises(ValueError):
        emu.delay("sendTelepathy", 1)
