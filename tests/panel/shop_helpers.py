"""Customers, profiles and orders made through services/shop for the shop's panel tests,
and a logged-in panel with the shop open (SHOP) and passwords storable."""
from cryptography.fernet import Fernet

from models import CustomerProfile, Lead
from services.core import search
from services.core.actors import Actor
from services.shop import catalogue, orders, profiles, wallet
from tests.panel.conftest import USERNAME, log_in

KEY = Fernet.generate_key().decode()
PANEL = Actor.panel(USERNAME)
XSS = "<script>alert(1)</script>"
PASSWORD = "Hunter2-Secret"
PROFILE = {"first_name": "Jane", "last_name": "Roe", "phone": "+12025550143",
           "email": "jane.roe@example.com", "date_of_birth": "1990-03-03", "country": "US",
           "street": "1 Main Street", "city": "Springfield", "state": "CA",
           "postal_code": "94105", "password": PASSWORD}


def shop_panel(make_app):
    """For a `shop` fixture: a logged-in client of a panel with the shop open and
    DATA_ENCRYPTION_KEY set; the passwords go afterwards, as the next test may bind this
    Postgres database keyless."""
    client = make_app(SHOP="1", DATA_ENCRYPTION_KEY=KEY).test_client()
    log_in(client)
    yield client
    CustomerProfile.update(password=None).execute()


def customer(first="Jane", last="Roe", tokens=1000, **profile):
    """A lead with `tokens` in their wallet and one profile: (lead, profile)."""
    lead = Lead.create(first_name=first, last_name=last, search_name=search.name_key(first, last))
    if tokens:
        wallet.adjust(PANEL, lead.id, tokens, "Welcome top-up")
    return lead, profiles.save(PANEL, lead.id, {**PROFILE, **profile})


def package(code="sites_100"):
    return next(p for p in catalogue.packages() if p.code == code)


def order(lead, profile, code="sites_100", **options):
    return orders.place(PANEL, lead.id, profile.id, package(code).id, **options)
