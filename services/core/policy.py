"""Business thresholds every process applies the same way; set from the settings at start."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    transfer_min_score: float = 0.6   # TRANSFER_MIN_SCORE
    stale_days: int = 7               # STALE_DAYS: no activity for this long -> lead.stale
    timezone: str = "UTC"             # TZ: "today", daily jobs
    company: str = "our team"         # COMPANY_NAME: {company} in templates, the client's help
    shop: bool = False                # SHOP: customers order packages paid in tokens
    shop_country: str = "US"          # SHOP_COUNTRY: a new customer profile's country


_current = Policy()


def configure(settings):
    global _current
    _current = Policy(transfer_min_score=settings.transfer_min_score,
                      stale_days=settings.stale_days, timezone=settings.timezone,
                      company=settings.company_name, shop=settings.shop,
                      shop_country=settings.shop_country)
    return _current


def current():
    return _current
