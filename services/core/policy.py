"""Business thresholds every process applies the same way; set from the settings at start."""
from dataclasses import dataclass

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
                      secret_key=settings.secret_key)
    return _current


def current():
    return _current
