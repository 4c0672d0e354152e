"""Fixtures and helpers of the top-up chat tests (test_topup.py, test_topup_check.py,
test_payment_notices.py): the shop on a clock near the wall clock's, the fake OxaPay and
top-ups through it, a customer and the invoices they get."""
import dataclasses

import pytest

from devtools.fake_oxapay import FakeOxaPay
from models import Payment, utcnow
from services.chat import buttons, topup
from services.chat.replies import Link
from services.core import policy
from services.payments import messages as payment_messages, oxapay, settlement
from services.shop import wallet
from tests.chat.shop_helpers import SHOP, lead_of, presses, writes


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


KEY = "TEST-MERCHANT-KEY-0001"
INVALID = buttons.NO_LONGER_VALID
PACK_LABELS = ["100 tokens · $10.00", "250 tokens · $25.00", "500 tokens · $50.00",
               "1,000 tokens · $100.00", "✏️ Other amount", "✖️ Cancel"]
BAD_AMOUNT = payment_messages.BAD_AMOUNT.format(low=50, high=100000)


def terms(fake=None, **values):
    """The policy with the shop on, and top-ups through `fake` when given."""
    if fake is not None:
        values = dict(payments=True, oxapay_api_url=fake.base_url,
                      oxapay_merchant_api_key=KEY, **values)
    return policy.Policy(company="Acme & Sons", shop=True, **values)


@pytest.fixture
def fake():
    with FakeOxaPay(KEY, retry_delays=(), step_delay=0) as server:
        yield server


@pytest.fixture
def on(monkeypatch, fake):
    monkeypatch.setattr(policy, "_current", terms(fake))
    return fake


@pytest.fixture
def otto(any_db, make_user):
    return make_user(role=None, telegram_id=501, first_name="Otto")


def says(user, text, ctx):
    return writes(user, text, ctx)[-1]


def data_of(answer):
    return {label: data for row in answer.buttons for label, data in row}


def pay_link(answer):
    links = [data for row in answer.buttons for _, data in row if isinstance(data, Link)]
    assert len(links) <= 1, answer.buttons
    return links[0] if links else None


def buy(user, ctx, tokens=250, message_id=10):
    """The invoice a pack pressed on message `message_id` gives, and its payment."""
    answer = presses(user, f"topup:{tokens}", ctx, pressed_message_id=message_id)
    return answer, Payment.get(Payment.request_key == f"telegram:{user.telegram_id}:{message_id}")


def oxapay_moves(fake, payment, statuses, amount=None, source="webhook"):
    """OxaPay moves the payment through `statuses` and tells us (as its webhook would)."""
    fake.pay(payment.track_id, statuses, amount)
    fake.wait_for_webhooks()
    return settlement.apply(payment.track_id, oxapay.information(payment.track_id), source)


def balance(user):
    return wallet.balance(lead_of(user).id)
