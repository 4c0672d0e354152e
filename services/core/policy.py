"""Business thresholds every process applies the same way; set from the settings at start."""
from dataclasses import dataclass
from decimal import Decimal

CHANNELS = ("telegram", "email", "sms", "whatsapp")   # services/delivery/channels.py


@dataclass(frozen=True)
class Policy:
    transfer_min_score: float = 0.6   # TRANSFER_MIN_SCORE
    stale_days: int = 7               # STALE_DAYS: no activity for this long -> lead.stale
    timezone: str = "UTC"             # TZ: "today", daily jobs
    company: str = "our team"         # COMPANY_NAME: {company} in templates, the client's help
    shop: bool = False                # SHOP: customers order packages paid in tokens
    shop_country: str = "US"          # SHOP_COUNTRY: a new customer profile's country
    # Channels that send besides Telegram (Settings.channel_on), and their limits.
    channels: frozenset = frozenset({"telegram"})
    sms_max_segments: int = 5         # SMS_MAX_SEGMENTS: a longer SMS is refused
    email_from: str = ""              # EMAIL_FROM: its domain names our Message-IDs
    public_base_url: str = ""         # PUBLIC_BASE_URL: links to admin.py (unsubscribe)
    secret_key: str = ""              # SECRET_KEY: signs those links (services/inbox/unsubscribe.py)
    # Top-ups (services/payments) and Premium (services/shop/premium.py); see config.py.
    payments: bool = False            # OXAPAY_MERCHANT_API_KEY is set
    oxapay_api_url: str = "https://api.oxapay.com"
    oxapay_merchant_api_key: str = ""
    oxapay_lifetime_minutes: int = 60
    payment_poll_seconds: float = 120.0   # how soon the scheduler first asks about a payment
    token_price_usd: Decimal = Decimal("0.10")
    topup_packs: tuple = (100, 250, 500, 1000)
    topup_min_tokens: int = 50
    topup_max_tokens: int = 100_000
    subscription_price_tokens: int = 300
    low_balance_tokens: int = 50


_current = Policy()


def configure(settings):
    global _current
    _current = Policy(transfer_min_score=settings.transfer_min_score,
                      stale_days=settings.stale_days, timezone=settings.timezone,
                      company=settings.company_name, shop=settings.shop,
                      shop_country=settings.shop_country,
                      channels=frozenset(channel for channel in CHANNELS
                                         if settings.channel_on(channel)),
                      sms_max_segments=settings.sms_max_segments,
                      email_from=settings.email_from, public_base_url=settings.public_base_url,
                      secret_key=settings.secret_key, payments=settings.payments_on,
                      oxapay_api_url=settings.oxapay_api_url,
                      oxapay_merchant_api_key=settings.oxapay_merchant_api_key,
                      oxapay_lifetime_minutes=settings.oxapay_lifetime_minutes,
                      payment_poll_seconds=settings.payment_poll_seconds,
                      token_price_usd=settings.token_price_usd,
                      topup_packs=settings.topup_packs, topup_min_tokens=settings.topup_min_tokens,
                      topup_max_tokens=settings.topup_max_tokens,
                      subscription_price_tokens=settings.subscription_price_tokens,
                      low_balance_tokens=settings.low_balance_tokens)
    return _current


def current():
    return _current
