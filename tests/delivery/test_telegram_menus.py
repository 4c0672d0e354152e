"""TelegramTransport.set_commands against the Bot API emulator, which checks every call
against the official spec: a chat's own menu is set, then dropped for the default."""
from devtools.telegram_emulator import TelegramEmulator
from services.delivery.telegram import TelegramTransport

TOKEN = "123456:TEST"


def test_a_chats_menu_is_set_and_then_dropped():
    with TelegramEmulator(token=TOKEN, bot_username="leadgram_test_bot") as emulator:
        emulator.add_user(111, first_name="Ann")
        transport = TelegramTransport(emulator.base_url, TOKEN)
        transport.set_commands(111, [["today", "Your agenda"], ["leads", "Recent leads"]])
        assert emulator.commands["chat:111"] == [
            {"command": "today", "description": "Your agenda"},
            {"command": "leads", "description": "Recent leads"}]
        transport.set_commands(111, [])
        assert "chat:111" not in emulator.commands
        assert emulator.violations == []
