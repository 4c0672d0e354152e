"""Fixtures of the shop's service tests: customers who wrote to the bot (so they have a
lead, a Telegram contact and a conversation), with profiles and funded wallets, and the
people who run the shop."""
import datetime
import itertools

import pytest

from models import CustomerProfile, Package, User
from services.core.actors import Actor
from services.inbox import clients
from services.shop import wallet

NOW = datetime.datetime(2026, 5, 4, 10, 0)
PANEL = Actor.panel()
FUNDER = Actor.system("test")
_telegram_ids = itertools.count(50_000)


def new_customer(tokens=0, first_name="Zoë", last_name="<Doe>"):
    """(client actor, lead, profile): a Telegram user who wrote in, with `tokens`."""
    user = User.create(telegram_id=next(_telegram_ids), first_name=first_name,
                       last_name=last_name, username=None)
    actor = Actor.client(user)
    lead = clients.from_telegram(actor, user, NOW)[0]
    profile = CustomerProfile.create(lead=lead, first_name=first_name, last_name="Profile",
                                     email="p@example.com", created_at=NOW, updated_at=NOW)
    if tokens:
        # A bonus: a "purchase" names the paid top-up it credits (services/payments).
        wallet.move(FUNDER, lead.id, "bonus", tokens, reference="test funds", now=NOW)
    return actor, lead, profile


@pytest.fixture
def customer(any_db):
    return new_customer


@pytest.fixture
def staff(any_db, make_user):
    """Actors: an admin, a dispatcher, a salesperson and two operators (with their Users)."""
    people = {name: make_user(role=role, first_name=name.capitalize())
              for name, role in (("admin", "admin"), ("dispatcher", "dispatcher"),
                                 ("sales", "sales"), ("olga", "operator"), ("oscar", "operator"))}
    return {name: Actor.member(user) for name, user in people.items()}


@pytest.fixture
def package(any_db):
    """The 100-site package (100 tokens, 60 for subscribers)."""
    return Package.get(Package.code == "sites_100")
