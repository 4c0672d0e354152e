"""An emulator with two people in it, and a pyTelegramBotAPI client pointed at it."""
import pytest
import telebot
from telebot import apihelper

from devtools.telegram_emulator import TelegramEmulator

TOKEN = "123456:TEST"
ANN, BOB = 111, 222


@pytest.fixture
def emu():
    with TelegramEmulator(token=TOKEN, bot_username="leadgram_test_bot") as emulator:
        emulator.add_user(ANN, first_name="Ann", username="ann")
        emulator.add_user(BOB, first_name="Bob")
        yield emulator


@pytest.fixture
def bot(emu):
    saved = apihelper.API_URL
    apihelper.API_URL = emu.base_url + "/bot{0}/{1}"
    yield telebot.TeleBot(TOKEN, threaded=False)
    apihelper.API_URL = saved
