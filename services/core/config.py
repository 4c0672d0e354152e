"""Settings read from the environment and `.env` (python-dotenv).

The variable names are a contract with deployers and outside tests; every one
is documented in `.env.example` and the README.
"""
import ipaddress
import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from cryptography.fernet import Fernet
from dotenv import load_dotenv

from models import PROJECT_ROOT  # where .env and .env.example live
from services.core.inputs import MAX_ID, parse_bounded_int

DEFAULT_DATABASE_URL = "sqlite:///data/leadgram.db"
MAX_TOKENS = 10_000_000   # a wallet moves at most this many at once (services/shop/wallet.py)
MAX_CENTS = 2**31 - 1     # the most one top-up's price may be, in cents (a Postgres INTEGER)
# Telegram's limits on the bot's profile texts (setMyDescription: 0-512 characters,
# setMyShortDescription: 0-120).
DESCRIPTION_LIMIT, SHORT_DESCRIPTION_LIMIT = 512, 120

TOKEN_HELP = (
    "TELEGRAM_BOT_TOKEN is not set.\n"
    "  1. In Telegram, open @BotFather and send /newbot (or /token for an existing bot).\n"
    "  2. Copy the token it gives you (it looks like 123456789:AAE...).\n"
    f"  3. Put it in {PROJECT_ROOT / '.env'} as a line:  TELEGRAM_BOT_TOKEN=123456789:AAE...\n"
    "     (`make run` creates .env from the documented .env.example if it is missing)."
)


class ConfigError(Exception):
    """A setting is missing or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    bot_token: str
    telegram_api_url: str
    database_url: str
    admin_telegram_ids: frozenset
    open_team: bool
    send_batch_size: int
    send_interval_seconds: float
    timezone: str = "UTC"
    # Admin panel (admin.py); checked when the panel starts, see services/ops/panel_login.py.
    admin_username: str = ""
    admin_password: str = ""
    admin_password_hash: str = ""
    secret_key: str = ""
    development: bool = False
    behind_https_proxy: bool = False
    trusted_proxy: str = "127.0.0.1"
    metrics_token: str = ""
    host: str = "0.0.0.0"
    port: int = 8000
    # Pipeline and follow-ups (services/core/policy.py, services/crm/scoring.py).
    transfer_min_score: float = 0.6
    stale_days: int = 7
    llm_api_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""
    llm_timeout_seconds: float = 5.0
    # Client conversations (services/inbox): people not on the team write to the bot.
    client_inbox: bool = True
    company_name: str = "our team"
    data_encryption_key: str = ""   # Fernet key of encrypted client data (models.SecretField)
    # The shop (services/shop): customers order packages paid in tokens.
    shop: bool = False
    shop_country: str = "US"        # a new customer profile's country until they pick one
    # The bot's profile texts; empty: services/chat/bot_profile.py's, made for these settings.
    bot_description: str = ""
    bot_short_description: str = ""
    # Email, SMS and WhatsApp (services/delivery/channels.py): a channel whose settings
    # are missing is off. PUBLIC_BASE_URL is where Twilio and mail programs reach admin.py.
    public_base_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "starttls"     # starttls | ssl | none
    email_from: str = ""                # "Acme Support <support@acme.example>"
    imap_host: str = ""
    imap_port: int = 993
    imap_username: str = ""
    imap_password: str = ""
    imap_folder: str = "INBOX"
    imap_security: str = "ssl"          # ssl | starttls | none
    imap_poll_seconds: float = 60.0
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_sms_from: str = ""
    twilio_whatsapp_from: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    sms_max_segments: int = 5
    # Crypto top-ups through OxaPay (services/payments) and Premium (services/shop/premium.py).
    oxapay_api_url: str = "https://api.oxapay.com"
    oxapay_merchant_api_key: str = ""
    oxapay_lifetime_minutes: int = 60
    payment_poll_seconds: float = 120.0
    token_price_usd: Decimal = Decimal("0.10")
    topup_packs: tuple = (100, 250, 500, 1000)
    topup_min_tokens: int = 50
    topup_max_tokens: int = 100_000
    subscription_price_tokens: int = 300
    low_balance_tokens: int = 50

    @property
    def payments_on(self):
        """Top-ups need the merchant key; without PUBLIC_BASE_URL OxaPay cannot call our
        webhook, and the scheduler's polling alone notices payments."""
        return bool(self.oxapay_merchant_api_key)

    def channel_on(self, channel):
        """Whether these settings turn a channel on: telegram, email (sending), imap
        (receiving email), sms, whatsapp (services/delivery/channels.py)."""
        twilio = bool(self.twilio_account_sid and self.twilio_auth_token)
        return {
            "telegram": True,
            "email": bool(self.smtp_host and self.email_from),
            "imap": bool(self.imap_host and self.imap_username and self.imap_password),
            "sms": twilio and bool(self.twilio_sms_from),
            "whatsapp": twilio and bool(self.twilio_whatsapp_from),
        }[channel]

    def require_bot_token(self):
        if not self.bot_token:
            raise ConfigError(TOKEN_HELP)
        return self.bot_token


def _number(env, name, default, minimum, kind=int, maximum=None, what=None):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = what or ("a whole number" if kind is int else "a number of seconds")
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _ids(env, name):
    ids = set()
    for part in env.get(name, "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        telegram_id = parse_bounded_int(part, -MAX_ID, MAX_ID)
        if telegram_id is None:
            raise ConfigError(
                f"{name} must list numeric Telegram user ids separated by commas, "
                f"got {part!r} (ask @userinfobot for yours)")
        ids.add(telegram_id)
    return frozenset(ids)


def _bool(env, name, default=False):
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be on or off (true or false), got {raw!r}")


def _ip_address(env, name, default):
    raw = env.get(name, "").strip() or default
    try:
        # Normalised: waitress compares it as text with the peer's address.
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ConfigError(f"{name} must be an IP address, like 127.0.0.1 "
                          f"(the reverse proxy's, as the panel sees it), got {raw!r}") from None


def _timezone(env):
    name = env.get("TZ", "").strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TZ must be a time zone name like Europe/Kyiv or UTC, got {name!r}") from None
    return name


def load_settings(env=None):
    """Settings from `env` (default: os.environ after loading `.env`)."""
    if env is None:
        # Real environment variables win over .env, as deployers expect.
        load_dotenv(PROJECT_ROOT / ".env", override=False)
        env = os.environ
    api_url = env.get("TELEGRAM_API_URL", "").strip() or "https://api.telegram.org"
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError(f"TELEGRAM_API_URL must start with http:// or https://, got {api_url!r}")
    return Settings(
        bot_token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
        telegram_api_url=api_url.rstrip("/"),
        database_url=env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        admin_telegram_ids=_ids(env, "ADMIN_TELEGRAM_IDS"),
        open_team=_bool(env, "OPEN_TEAM"),
        send_batch_size=_number(env, "SEND_BATCH_SIZE", 30, minimum=1),
        send_interval_seconds=_number(env, "SEND_INTERVAL_SECONDS", 30.0, minimum=0.1, kind=float),
        timezone=_timezone(env),
        admin_username=env.get("ADMIN_USERNAME", "").strip(),
        admin_password=env.get("ADMIN_PASSWORD", ""),
        admin_password_hash=env.get("ADMIN_PASSWORD_HASH", "").strip(),
        secret_key=env.get("SECRET_KEY", ""),
        development=env.get("LEADGRAM_ENV", "").strip().lower() == "development",
        behind_https_proxy=_bool(env, "BEHIND_HTTPS_PROXY"),
        trusted_proxy=_ip_address(env, "TRUSTED_PROXY", "127.0.0.1"),
        metrics_token=env.get("METRICS_TOKEN", "").strip(),
        host=env.get("HOST", "").strip() or "0.0.0.0",
        port=_number(env, "PORT", 8000, minimum=1, maximum=65535),
        transfer_min_score=_number(env, "TRANSFER_MIN_SCORE", 0.6, minimum=0.0, maximum=1.0,
                                   kind=float, what="a number from 0 to 1"),
        stale_days=_number(env, "STALE_DAYS", 7, minimum=1, maximum=3650),
        llm_api_url=_llm_url(env),
        llm_api_key=env.get("LLM_API_KEY", "").strip(),
        llm_model=env.get("LLM_MODEL", "").strip() or "gpt-4o-mini",
        # /score waits for the LLM inside the bot's transaction, which other writers wait
        # for up to SQLite's 10 s busy timeout: keep the wait well under it.
        llm_timeout_seconds=_number(env, "LLM_TIMEOUT_SECONDS", 5.0, minimum=0.5, maximum=8,
                                    kind=float),
        client_inbox=_bool(env, "CLIENT_INBOX", default=True),
        company_name=" ".join(env.get("COMPANY_NAME", "").split())[:100] or "our team",
        data_encryption_key=_data_key(env),
        shop=_bool(env, "SHOP"),
        shop_country=_country(env, "SHOP_COUNTRY", "US"),
        bot_description=_text(env, "BOT_DESCRIPTION", DESCRIPTION_LIMIT),
        bot_short_description=_text(env, "BOT_SHORT_DESCRIPTION", SHORT_DESCRIPTION_LIMIT),
        **_channel_settings(env),
        **_payment_settings(env),
    )


def _channel_settings(env):
    """Email (SMTP out, IMAP in), SMS and WhatsApp (Twilio)."""
    smtp_security = _security(env, "SMTP_SSL", "SMTP_STARTTLS", default="starttls")
    imap_security = _security(env, "IMAP_SSL", "IMAP_STARTTLS", default="ssl")
    return {
        "public_base_url": _url(env, "PUBLIC_BASE_URL", "", "https://crm.example.com"),
        "smtp_host": env.get("SMTP_HOST", "").strip(),
        "smtp_port": _number(env, "SMTP_PORT", 465 if smtp_security == "ssl" else 587,
                             minimum=1, maximum=65535),
        "smtp_username": env.get("SMTP_USERNAME", "").strip(),
        "smtp_password": env.get("SMTP_PASSWORD", ""),
        "smtp_security": smtp_security,
        "email_from": _email_from(env),
        "imap_host": env.get("IMAP_HOST", "").strip(),
        "imap_port": _number(env, "IMAP_PORT", 993 if imap_security == "ssl" else 143,
                             minimum=1, maximum=65535),
        "imap_username": env.get("IMAP_USERNAME", "").strip(),
        "imap_password": env.get("IMAP_PASSWORD", ""),
        "imap_folder": env.get("IMAP_FOLDER", "").strip() or "INBOX",
        "imap_security": imap_security,
        "imap_poll_seconds": _number(env, "IMAP_POLL_SECONDS", 60.0, minimum=1.0, kind=float),
        "twilio_account_sid": env.get("TWILIO_ACCOUNT_SID", "").strip(),
        "twilio_auth_token": env.get("TWILIO_AUTH_TOKEN", "").strip(),
        "twilio_sms_from": _sender_number(env, "TWILIO_SMS_FROM"),
        "twilio_whatsapp_from": _sender_number(env, "TWILIO_WHATSAPP_FROM"),
        "twilio_api_url": _url(env, "TWILIO_API_URL", "https://api.twilio.com",
                               "https://api.twilio.com"),
        "sms_max_segments": _number(env, "SMS_MAX_SEGMENTS", 5, minimum=1, maximum=10),
    }


def _payment_settings(env):
    """OxaPay top-ups, their prices and limits, Premium and the low-balance alert."""
    low = _number(env, "TOPUP_MIN_TOKENS", 50, minimum=1, maximum=MAX_TOKENS)
    high = _number(env, "TOPUP_MAX_TOKENS", 100_000, minimum=low, maximum=MAX_TOKENS)
    price = _price(env, "TOKEN_PRICE_USD", "0.10")
    return {
        "oxapay_api_url": _url(env, "OXAPAY_API_URL", "https://api.oxapay.com",
                               "https://api.oxapay.com"),
        "oxapay_merchant_api_key": env.get("OXAPAY_MERCHANT_API_KEY", "").strip(),
        # OxaPay takes 15 to 2880 minutes.
        "oxapay_lifetime_minutes": _number(env, "OXAPAY_LIFETIME_MINUTES", 60, minimum=15,
                                           maximum=2880),
        # The scheduler asks OxaPay about a young payment this often (later less often).
        "payment_poll_seconds": _number(env, "PAYMENT_POLL_SECONDS", 120.0, minimum=1.0,
                                        maximum=3600, kind=float),
        "token_price_usd": price,
        "topup_packs": _packs(env, low, high),
        "topup_min_tokens": low,
        "topup_max_tokens": _prices_fit(high, price),
        # A Subscribe button carries the price in 7 digits (services/chat/buttons.py).
        "subscription_price_tokens": _number(env, "SUBSCRIPTION_PRICE_TOKENS", 300, minimum=1,
                                             maximum=9_999_999),
        "low_balance_tokens": _number(env, "LOW_BALANCE_TOKENS", 50, minimum=0,
                                      maximum=MAX_TOKENS),
    }


def _prices_fit(high, price):
    """A top-up's price in cents is a 32-bit INTEGER column (Payment.amount_cents)."""
    if high * price * 100 > MAX_CENTS:
        raise ConfigError(f"TOPUP_MAX_TOKENS ({high}) at TOKEN_PRICE_USD ({price}) costs more "
                          f"than one payment can hold (${MAX_CENTS / 100:,.2f}): lower one of them")
    return high


def _price(env, name, default):
    raw = env.get(name, "").strip() or default
    try:
        price = Decimal(raw)
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or not Decimal("0.0001") <= price <= 1000:
        raise ConfigError(f"{name} must be a price in US dollars from 0.0001 to 1000, like "
                          f"0.10; got {raw!r}")
    return price


def _packs(env, low, high):
    """TOPUP_PACKS: the token amounts offered as buttons, "100,250,500,1000"."""
    raw = env.get("TOPUP_PACKS", "").strip() or "100,250,500,1000"
    try:
        packs = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
    except ValueError:
        packs = ()
    if not 1 <= len(packs) <= 8 or not all(low <= pack <= high for pack in packs):
        raise ConfigError(f"TOPUP_PACKS must list 1 to 8 token amounts from TOPUP_MIN_TOKENS "
                          f"({low}) to TOPUP_MAX_TOKENS ({high}), like 100,250,500,1000; "
                          f"got {raw!r}")
    return packs


def _security(env, ssl_name, starttls_name, default):
    """ssl (TLS from the first byte), starttls, or none (loopback and tests only): the one
    turned on, else `default` unless that one is turned off."""
    ssl, starttls = _bool(env, ssl_name, None), _bool(env, starttls_name, None)
    if ssl or starttls:
        return "ssl" if ssl else "starttls"
    turned_off = ssl is False if default == "ssl" else starttls is False
    return "none" if turned_off else default


def _url(env, name, default, example):
    url = env.get(name, "").strip().rstrip("/") or default
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be a URL starting with https:// (like {example}), "
                          f"got {url!r}")
    return url


def _email_from(env):
    from email.utils import parseaddr
    raw = " ".join(env.get("EMAIL_FROM", "").split())
    if raw and "@" not in parseaddr(raw)[1]:
        raise ConfigError("EMAIL_FROM must be an email address, optionally with a name: "
                          f"Acme Support <support@acme.example>; got {raw!r}")
    return raw


def _sender_number(env, name):
    """A Twilio sender: an E.164 number (+15005550006), or for SMS a messaging service
    (MG…) or alphanumeric sender id; a `whatsapp:` prefix is taken off (we add it)."""
    value = env.get(name, "").strip()
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:"):]
    return value


def _text(env, name, limit):
    value = env.get(name, "").strip()
    if len(value) > limit:
        raise ConfigError(f"{name} must be at most {limit} characters (Telegram's limit); "
                          f"it has {len(value)}")
    return value


def _country(env, name, default):
    value = env.get(name, "").strip().upper() or default
    if pycountry.countries.get(alpha_2=value) is None:
        raise ConfigError(f"{name} must be a two-letter country code such as US or GB, "
                          f"got {value!r}")
    return value


def _data_key(env):
    key = env.get("DATA_ENCRYPTION_KEY", "").strip()
    if key:
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError("DATA_ENCRYPTION_KEY is not a valid key: `python admin.py "
                              "init-env` writes one into a new .env, or make one with "
                              "Fernet.generate_key() from the cryptography package") from None
    return key


def _llm_url(env):
    url = env.get("LLM_API_URL", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError("LLM_API_URL must be an OpenAI-compatible chat completions URL "
                          f"starting with http:// or https://, got {url!r}")
    return url
