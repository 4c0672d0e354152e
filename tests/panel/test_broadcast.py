"""Broadcast from the panel: compose, preview, confirm, then watch the counts."""
import re

import pytest

from models import Broadcast, OutboxMessage, User
from services.delivery import broadcasts
from tests.panel.conftest import text_of


@pytest.fixture
def people(app, make_user):
    return [make_user("admin", first_name="Ann"), make_user("sales", first_name="Sam"),
            make_user("dispatcher", first_name="Dee"), make_user(None, first_name="Cus"),
            make_user("sales", first_name="Gone", unreachable=True)]


def compose(browser, text, audience="team", test_mode=False):
    data = {"text": text, "audience": audience}
    if test_mode:
        data["test_mode"] = "y"
    return browser.post("/broadcast/new", data=data)


def test_preview_shows_the_message_as_telegram_will_and_who_gets_it(browser, people):
    response = compose(browser, "<b>Launch</b> day & <i>more</i>\n<script>x</script>")
    assert "script" in text_of(response) and response.status_code == 200
    assert "is not something Telegram can show" in text_of(response)  # refused, kept in the form
    response = compose(browser, "<b>Launch</b> day & <i>more</i>")
    page = text_of(response)
    assert '<div class="tg-chat"><div class="tg-bubble" id="preview"><b>Launch</b> day &amp; <i>more</i></div>' in page
    assert "Send to 3 people" in page  # Ann, Sam, Dee; Gone blocked the bot
    assert "1 more blocked the bot and are skipped" in page
    assert Broadcast.select().count() == 0 and OutboxMessage.select().count() == 0


@pytest.mark.parametrize("text,error", [
    ("", "Write a message first."),
    ("   \n ", "Write a message first."),
    ("x" * 3901, "The message is 3,901 characters; the limit is 3,900."),
    ("<b>open", "Line 1: <b> is never closed."),
])
def test_bad_messages_get_a_clear_answer(browser, people, text, error):
    response = compose(browser, text)
    assert response.status_code == 200
    assert error.replace("<", "&lt;").replace(">", "&gt;") in text_of(response)


def test_the_preview_counts_a_line_break_as_one_character(browser, people):
    page = text_of(compose(browser, "<b>Offer</b>\r\n\r\nline two\r\n" + "x" * 1000))
    assert "<dd class=\"col-sm-9\">1,016 characters</dd>" in page  # 5 + 2 + 8 + 1 + 1,000


def test_each_broadcast_page_has_one_broadcasts_heading(browser, people):
    for url, below in (("/broadcast/", None), ("/broadcast/new", "New broadcast")):
        headings = [re.sub(r"<[^>]+>", "", h).strip()
                    for h in re.findall(r"<h\d[^>]*>(.*?)</h\d>", text_of(browser.get(url)), re.S)]
        assert headings[:2] == ["Broadcasts", below] if below else headings[:1] == ["Broadcasts"], headings
        assert headings.count("Broadcasts") == 1, headings


def test_the_limit_counts_what_readers_see(browser, people):
    response = compose(browser, "<b>" + "x" * 3900 + "</b>")
    assert "Send to 3 people" in text_of(response)


def test_an_unknown_audience_is_refused(browser, people):
    assert "Not a valid choice" in text_of(compose(browser, "hi", audience="everyone; drop"))


def test_test_mode_goes_to_admins_only(browser, people):
    page = text_of(compose(browser, "Test run", audience="everyone", test_mode=True))
    assert "Send test to 1 admin" in page and "Admins only (test)" in page
    response = browser.post("/broadcast/send", data={"text": "Test run", "audience": "everyone",
                                                     "test_mode": "1"})
    assert response.status_code == 302
    broadcast = Broadcast.get()
    assert broadcast.test_mode and broadcast.recipients == 1 and broadcast.created_by == "boss"
    assert [m.recipient.first_name for m in broadcast.messages] == ["Ann"]


@pytest.mark.parametrize("audience,names", [
    ("team", {"Ann", "Sam", "Dee"}),
    ("role:sales", {"Sam"}),
    ("everyone", {"Ann", "Sam", "Dee", "Cus"}),
])
def test_sending_queues_one_message_per_reachable_recipient(browser, people, audience, names):
    browser.post("/broadcast/send", data={"text": "<b>Hi</b> all", "audience": audience})
    broadcast = Broadcast.get()
    messages = list(broadcast.messages)
    assert {m.recipient.first_name for m in messages} == names
    assert broadcast.recipients == len(names)
    assert all(m.text == "<b>Hi</b> all" and m.parse_mode == "HTML" for m in messages)
    assert "is queued for" in text_of(browser.get("/broadcast/"))


def test_nobody_to_send_to_is_explained(browser, app, make_user):
    make_user("sales", first_name="Sam")
    page = text_of(compose(browser, "hi", test_mode=True))
    assert "no admin has started the bot yet" in page


def test_the_list_shows_progress_as_it_changes(browser, people):
    broadcasts.send("hi", "team", False, created_by="boss")
    broadcast = Broadcast.get()
    page = text_of(browser.get("/broadcast/"))
    assert '<td data-field="waiting">3</td>' in page and '<td data-field="success_rate">—</td>' in page
    ids = [m.id for m in broadcast.messages]
    OutboxMessage.update(status="sent").where(OutboxMessage.id.in_(ids[:2])).execute()
    OutboxMessage.update(status="failed").where(OutboxMessage.id == ids[2]).execute()
    progress = browser.get(f"/broadcast/progress.json?id={broadcast.id}&id=x").get_json()
    assert progress == {str(broadcast.id): {"sent": 2, "failed": 1, "waiting": 0, "cancelled": 0,
                                            "success_rate": 66.7}}


def test_the_confirm_step_checks_everything_again(browser, people):
    User.update(unreachable=True).execute()
    response = browser.post("/broadcast/send", data={"text": "hi", "audience": "team"})
    assert response.headers["Location"] == "/broadcast/new"
    assert "Nobody can receive it" in text_of(browser.get("/broadcast/new"))
    assert Broadcast.select().count() == 0


def test_edit_from_the_preview_keeps_the_text(browser, people):
    page = text_of(browser.post("/broadcast/new?edit=1", data={"text": "draft <b>x</b>",
                                                               "audience": "role:sales"}))
    assert "draft &lt;b&gt;x&lt;/b&gt;</textarea>" in page
    assert '<option selected value="role:sales">' in page
