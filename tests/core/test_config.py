"""Settings: defaults, parsing, and bad values refused with a reason."""
from decimal import Decimal

import pytest

from services.core.config import PROJECT_ROOT, ConfigError, load_settings


def test_defaults():
    settings = load_settings({"TELEGRAM_BOT_TOKEN": "1:A"})
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.database_url == "sqlite:///data/leadgram.db"
    assert (settings.send_batch_size, settings.send_interval_seconds) == (30, 30.0)
    assert settings.admin_telegram_ids == frozenset() and not settings.open_team
    assert (settings.transfer_min_score, settings.stale_days, settings.llm_api_url) == (0.6, 7, "")
    assert (settings.shop, settings.shop_country) == (False, "US")


def test_values_are_parsed():
    settings = load_settings({"ADMIN_TELEGRAM_IDS": " 1, 22 ,333", "OPEN_TEAM": "true",
                              "SEND_BATCH_SIZE": "5", "SEND_INTERVAL_SECONDS": "0.5",
                              "TELEGRAM_API_URL": "http://127.0.0.1:8081/"})
    assert settings.admin_telegram_ids == {1, 22, 333} and settings.open_team
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    settings = load_settings({"TRANSFER_MIN_SCORE": "0.75", "STALE_DAYS": "3",
                              "LLM_API_URL": "http://127.0.0.1:9/v1/chat/completions",
                              "LLM_TIMEOUT_SECONDS": "2.5"})
    assert (settings.transfer_min_score, settings.stale_days) == (0.75, 3)
    assert (settings.llm_model, settings.llm_timeout_seconds) == ("gpt-4o-mini", 2.5)
    settings = load_settings({"SHOP": "on", "SHOP_COUNTRY": " gb "})
    assert (settings.shop, settings.shop_country) == (True, "GB")


@pytest.mark.parametrize("env, message", [
    ({"ADMIN_TELEGRAM_IDS": "@ann"}, "numeric Telegram user ids"),
    ({"ADMIN_TELEGRAM_IDS": "1,²"}, "numeric Telegram user ids"),
    ({"ADMIN_TELEGRAM_IDS": "9" * 25}, "numeric Telegram user ids"),
    ({"SEND_BATCH_SIZE": "many"}, "whole number"),
    ({"SEND_BATCH_SIZE": "0"}, "at least 1"),
    ({"SEND_INTERVAL_SECONDS": "-1"}, "at least"),
    ({"OPEN_TEAM": "maybe"}, "true or false"),
    ({"TELEGRAM_API_URL": "api.telegram.org"}, "http://"),
    ({"TRANSFER_MIN_SCORE": "60%"}, "a number from 0 to 1"),
    ({"TRANSFER_MIN_SCORE": "1.5"}, "at most 1.0"),
    ({"STALE_DAYS": "0"}, "at least 1"),
    ({"LLM_API_URL": "api.openai.com"}, "OpenAI-compatible"),
    ({"LLM_TIMEOUT_SECONDS": "30"}, "at most 8"),
    ({"SHOP": "sometimes"}, "on or off"),
    ({"SHOP_COUNTRY": "USA"}, "two-letter country code"),
    ({"SHOP_COUNTRY": "XX"}, "two-letter country code"),
    ({"BOT_DESCRIPTION": "x" * 513}, "BOT_DESCRIPTION must be at most 512 characters"),
    ({"BOT_SHORT_DESCRIPTION": "x" * 121}, "BOT_SHORT_DESCRIPTION must be at most 120"),
])


def test_bad_values_are_refused_with_a_reason(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_missing_token_says_how_to_get_one():
    with pytest.raises(ConfigError, match="@BotFather"):
        load_settings({}).require_bot_token()


def test_settings_files_are_read_from_the_project_root():
    """.env is looked for, and init-env writes it, beside .env.example and bot.py (a module
    moving one folder down once made this services/)."""
    assert (PROJECT_ROOT / ".env.example").is_file() and (PROJECT_ROOT / "bot.py").is_file()


# Email, SMS and WhatsApp (issue 14) -----------------------------------------------------

@pytest.mark.parametrize("env, smtp, imap", [
    ({}, ("starttls", 587), ("ssl", 993)),
    ({"SMTP_SSL": "on"}, ("ssl", 465), ("ssl", 993)),
    ({"SMTP_STARTTLS": "off", "SMTP_PORT": "2525"}, ("none", 2525), ("ssl", 993)),
    ({"IMAP_SSL": "off"}, ("starttls", 587), ("none", 143)),
    ({"IMAP_SSL": "off", "IMAP_STARTTLS": "on"}, ("starttls", 587), ("starttls", 143)),
])
def test_mail_security_follows_the_switches_and_picks_the_usual_port(env, smtp, imap):
    settings = load_settings(env)
    assert (settings.smtp_security, settings.smtp_port) == smtp
    assert (settings.imap_security, settings.imap_port) == imap


@pytest.mark.parametrize("env, message", [
    ({"EMAIL_FROM": "Acme Support"}, "EMAIL_FROM must be an email address"),
    ({"PUBLIC_BASE_URL": "crm.example.com"}, "PUBLIC_BASE_URL must be a URL starting with https://"),
    ({"TWILIO_API_URL": "ftp://x"}, "TWILIO_API_URL must be a URL"),
    ({"SMS_MAX_SEGMENTS": "11"}, "SMS_MAX_SEGMENTS must be at most 10"),
    ({"SMTP_SSL": "maybe"}, "SMTP_SSL must be on or off"),
    ({"IMAP_POLL_SECONDS": "0"}, "IMAP_POLL_SECONDS must be at least 1.0"),
])
def test_bad_channel_settings_say_what_to_fix(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_a_channel_is_on_once_its_settings_are_there():
    twilio = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}
    assert [load_settings({}).channel_on(c) for c in ("telegram", "email", "imap", "sms", "whatsapp")] == [
        True, False, False, False, False]
    assert load_settings({"SMTP_HOST": "smtp.x", "EMAIL_FROM": "a@x.example"}).channel_on("email")
    assert not load_settings({"SMTP_HOST": "smtp.x"}).channel_on("email")
    assert load_settings({"IMAP_HOST": "i", "IMAP_USERNAME": "u", "IMAP_PASSWORD": "p"}).channel_on("imap")
    assert load_settings({**twilio, "TWILIO_SMS_FROM": "+15005550006"}).channel_on("sms")
    whatsapp = load_settings({**twilio, "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886"})
    assert whatsapp.channel_on("whatsapp") and not whatsapp.channel_on("sms")
    assert whatsapp.twilio_whatsapp_from == "+14155238886"
    assert not load_settings({"TWILIO_SMS_FROM": "+15005550006"}).channel_on("sms")


def test_payment_settings_default_and_parse():
    default = load_settings({})
    assert not default.payments_on and default.oxapay_api_url == "https://api.oxapay.com"
    assert (default.token_price_usd, default.topup_packs, default.topup_min_tokens,
            default.topup_max_tokens) == (Decimal("0.10"), (100, 250, 500, 1000), 50, 100_000)
    assert (default.subscription_price_tokens, default.low_balance_tokens,
            default.oxapay_lifetime_minutes, default.payment_poll_seconds) == (300, 50, 60, 120.0)
    given = load_settings({"OXAPAY_MERCHANT_API_KEY": " KEY ", "OXAPAY_API_URL": "http://127.0.0.1:9/",
                           "TOKEN_PRICE_USD": "0.25", "TOPUP_PACKS": "500, 100,100",
                           "TOPUP_MIN_TOKENS": "10", "TOPUP_MAX_TOKENS": "5000",
                           "LOW_BALANCE_TOKENS": "0", "OXAPAY_LIFETIME_MINUTES": "15"})
    assert given.payments_on and given.oxapay_merchant_api_key == "KEY"
    assert given.oxapay_api_url == "http://127.0.0.1:9" and given.topup_packs == (100, 500)
    assert (given.token_price_usd, given.low_balance_tokens, given.oxapay_lifetime_minutes) == (
        Decimal("0.25"), 0, 15)


@pytest.mark.parametrize("env, message", [
    ({"TOKEN_PRICE_USD": "ten cents"}, "TOKEN_PRICE_USD must be a price in US dollars"),
    ({"TOKEN_PRICE_USD": "0"}, "TOKEN_PRICE_USD must be a price"),
    ({"TOKEN_PRICE_USD": "NaN"}, "TOKEN_PRICE_USD must be a price"),
    ({"TOPUP_PACKS": "100,abc"}, "TOPUP_PACKS must list 1 to 8 token amounts"),
    ({"TOPUP_PACKS": "10"}, r"from TOPUP_MIN_TOKENS \(50\)"),
    ({"TOPUP_PACKS": ",".join(str(100 + n) for n in range(9))}, "TOPUP_PACKS must list 1 to 8"),
    ({"TOPUP_MIN_TOKENS": "500", "TOPUP_MAX_TOKENS": "100"}, "TOPUP_MAX_TOKENS must be at least 500"),
    ({"OXAPAY_LIFETIME_MINUTES": "10"}, "OXAPAY_LIFETIME_MINUTES must be at least 15"),
    ({"OXAPAY_LIFETIME_MINUTES": "3000"}, "OXAPAY_LIFETIME_MINUTES must be at most 2880"),
    ({"OXAPAY_API_URL": "api.oxapay.com"}, "OXAPAY_API_URL must be a URL"),
    ({"SUBSCRIPTION_PRICE_TOKENS": "10000000"}, "SUBSCRIPTION_PRICE_TOKENS must be at most 9999999"),
    ({"PAYMENT_POLL_SECONDS": "0.5"}, "PAYMENT_POLL_SECONDS must be at least 1.0"),
])
def test_bad_payment_settings_say_what_to_fix(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)
