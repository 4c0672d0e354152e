"""Fixtures of the top-up chat tests (test_topup.py, test_payment_notices.py)."""
import dataclasses

import pytest

from models import utcnow
from services.chat import topup
from tests.chat.shop_helpers import SHOP


def near_now():
    """The shop's chat on a fixed clock near the wall clock's (the fake's invoices expire
    by the wall clock)."""
    now = utcnow().replace(microsecond=0)
    return dataclasses.replace(SHOP, clock=lambda: now)


def client(make_user):
    return make_user(role=None, telegram_id=500, first_name="Zoë", last_name="<Client>")


@pytest.fixture
def ctx():
    return near_now()


@pytest.fixture
def zoe(any_db, make_user):
    return client(make_user)


@pytest.fixture(autouse=True)
def check_payment_asks_every_time(monkeypatch):
    """Check payment asks OxaPay on every press here (its throttle has a test of its own),
    and no test inherits another's questions (payment ids repeat between databases)."""
    monkeypatch.setattr(topup, "ASK_EVERY", 0.0)
    monkeypatch.setattr(topup, "_asked", {})
