"""The customer's notices of services/chat/balance_alerts.py: Premium ending soon, ended,
given, bought or ended by the team, and a balance fallen below LOW_BALANCE_TOKENS; each
queued once in the customer's conversation through the outbox, as Telegram HTML with
buttons Telegram accepts and the customer can press. On SQLite and Postgres."""
import dataclasses
import datetime
import json
import logging

import pytest

from devtools.telegram_formatting import parse
from models import Message, OutboxMessage
from services.chat import balance_alerts, buttons, router as chat
from services.core import events
from services.core.actors import Actor
from services.inbox import consent
from services.shop import premium, wallet
from tests.chat.helpers import NOW, labels
from tests.chat.shop_helpers import SHOP, add_profile, button, fund, lead_of, presses, says

PANEL = Actor.panel()
DAY = datetime.timedelta(days=1)


@pytest.fixture
def zoe(any_db, make_user):
    return make_user(role=None, telegram_id=500, first_name="Zoë", last_name="<Client>")


def sent(user):
    """(html, markup rows of (label, data), plain text kept) of the system notices queued
    for the customer, oldest first; each one Telegram would take."""
    rows = (Message.select(Message, OutboxMessage).join(OutboxMessage)
            .where(OutboxMessage.recipient == user.id, Message.sender_kind == "system")
            .order_by(Message.id))
    found = []
    for message in rows:
        outbox = message.outbox
        parse(outbox.text, outbox.parse_mode)
        markup = json.loads(outbox.reply_markup) if outbox.reply_markup else {"inline_keyboard": []}
        keyboard = [[(b["text"], b["callback_data"]) for b in row] for row in markup["inline_keyboard"]]
        for row in keyboard:
            for _, data in row:
                kind, _ = buttons.decode(data)
                assert kind in chat.CLIENT_KINDS and len(data.encode()) <= 64, data
        found.append((outbox.text, keyboard, message.text))
    return found


def test_every_alert_is_subscribed():
    for name, handler in balance_alerts.HANDLERS.items():
        assert handler in events._subscribers[name], name


def test_a_chat_order_that_takes_the_balance_low_tells_the_customer_once(zoe):
    add_profile(zoe)
    fund(zoe, 130)
    for _ in range(2):   # 130 -> 30 (below 50: told), 30 -> nothing left to order with
        summary = presses(zoe, button(presses(zoe, button(presses(zoe, button(
            says(zoe, "/order"), "Ann")), "100 sites")), "No"))
        presses(zoe, button(summary, "✅ Confirm"), pressed_message_id=len(sent(zoe)) + 10)
    alerts = [s for s in sent(zoe) if s[0].startswith("🪙")]
    assert alerts == [(
        "🪙 Your balance is down to <b>30 tokens</b> (below 50). Top up now so your next order "
        "is not held up.",
        [[("🪙 Top up", "menu:topup"), ("🪙 My tokens", "menu:tokens")]],
        "🪙 Your balance is down to 30 tokens (below 50). Top up now so your next order is not "
        "held up.")]
    assert "Your balance: 30 tokens" in presses(zoe, "menu:tokens").text


def test_the_expiry_alerts_renew_button_opens_the_offer(zoe):
    fund(zoe, 400)
    presses(zoe, "premium:300", pressed_message_id=1)
    ends = premium.until(lead_of(zoe).id, NOW)
    premium.send_alerts(ends - DAY)
    premium.send_alerts(ends + datetime.timedelta(minutes=1))
    texts = [(html, keyboard) for html, keyboard, _ in sent(zoe) if html.startswith("⭐")]
    assert texts == [
        ("⭐ Your Premium ends on <b>2026-12-31 09:00 (UTC)</b>. Renew it for 300 tokens to keep "
         "the subscriber prices and the front of the queue: renewing now adds 30 days to that "
         "date, so nothing is lost.", [[("⭐ Renew Premium", "premium:")]]),
        ("⭐ Your Premium has ended: from now on you pay the regular prices and your orders queue "
         "in turn. Renew it for 300 tokens whenever you like.", [[("⭐ Renew Premium", "premium:")]])]
    later = dataclasses.replace(SHOP, clock=lambda: ends + datetime.timedelta(minutes=1))
    offer = presses(zoe, "premium:", ctx=later)
    assert "You do not have Premium now." in offer.text and "Top up" in labels(offer)[1]


def test_what_the_team_does_to_premium_is_told_in_the_deployers_zone(zoe):
    lead = lead_of(zoe)
    premium.grant(PANEL, lead.id, days=1, now=NOW)
    premium.end(PANEL, lead.id, now=NOW + datetime.timedelta(hours=1))
    fund(zoe, 300)
    premium.buy(PANEL, lead.id, 300, now=NOW + 2 * datetime.timedelta(hours=1))
    told = [(html, keyboard) for html, keyboard, _ in sent(zoe) if html.startswith("⭐")]
    assert told == [
        ("⭐ Our team gave you 1 day of Premium: it is yours until <b>2026-12-02 09:00 (UTC)</b>.", []),
        ("⭐ Our team ended your Premium: from now on you pay the regular prices.",
         [[("⭐ Renew Premium", "premium:")]]),
        ("⭐ Our team bought you 30 days of Premium for 300 tokens from your balance: it is yours "
         "until <b>2026-12-31 11:00 (UTC)</b>.", [])]


def test_a_customer_who_sent_stop_is_not_told_and_the_change_still_happens(zoe, caplog):
    fund(zoe, 100)
    lead = lead_of(zoe)
    consent.opt_out(Actor.client(zoe), lead, "telegram", zoe.telegram_id, NOW)
    before = len(sent(zoe))
    with caplog.at_level(logging.INFO, logger="leadgram.inbox"):
        wallet.adjust(PANEL, lead.id, -80, "Correction")
        premium.grant(PANEL, lead.id, days=2, now=NOW)
        counts = premium.send_alerts(NOW)
    assert len(sent(zoe)) == before and counts["expiring"] == 1
    assert wallet.balance(lead.id) == 20 and premium.until(lead.id, NOW) == NOW + 2 * DAY
    assert caplog.text.count(f"client #{lead.id} was not told") >= 3
    assert "Your balance is down to 20 tokens" in caplog.text


def test_the_plain_text_kept_has_no_markup(zoe):
    premium.grant(PANEL, lead_of(zoe).id, days=30, now=NOW)
    html, _, plain = sent(zoe)[-1]
    assert "<b>" in html and "<" not in plain and plain.endswith("until 2026-12-31 09:00 (UTC).")
