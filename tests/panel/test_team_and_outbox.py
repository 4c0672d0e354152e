"""Team members and the outbox in the panel, changed through services."""
import pytest

from models import Lead, OutboxMessage, User
from services.crm import leads
from services.delivery import outbox
from tests.panel.conftest import text_of


@pytest.fixture
def people(app, make_user):
    return {"boss": make_user("admin", telegram_id=1, first_name="Boss"),  # in ADMIN_TELEGRAM_IDS
            "ann": make_user("admin", first_name="Ann"),
            "sam": make_user("sales", first_name="Sam"),
            "cid": make_user(None, first_name="Cid")}


def edit(browser, user, role, notify=True):
    data = {"role": role}
    if notify:
        data["notify"] = "y"
    return browser.post(f"/members/edit/?id={user.id}", data=data)


def reload(user):
    return User.get_by_id(user.id)


def test_roles_and_notifications_change_through_the_team_rules(browser, people):
    assert edit(browser, people["sam"], "dispatcher", notify=False).status_code == 302
    sam = reload(people["sam"])
    assert (sam.role, sam.notify) == ("dispatcher", False)
    assert edit(browser, people["cid"], "sales").status_code == 302
    assert reload(people["cid"]).role == "sales" and reload(people["cid"]).joined_at


def test_an_admin_from_the_environment_cannot_be_demoted_here(browser, people):
    response = edit(browser, people["boss"], "sales")
    assert response.status_code == 200
    assert "is an admin by ADMIN_TELEGRAM_IDS" in text_of(response)
    assert reload(people["boss"]).role == "admin"


def test_the_last_admin_stays(browser, people):
    User.update(role="sales").where(User.id == people["boss"].id).execute()
    response = edit(browser, people["ann"], "")
    assert "The team needs at least one admin." in text_of(response)
    assert reload(people["ann"]).role == "admin"


def test_deactivate_takes_people_off_the_team_but_keeps_them(browser, people):
    response = browser.post("/members/action/", data={
        "action": "deactivate", "rowid": [str(people["sam"].id), str(people["boss"].id)]})
    assert response.status_code == 302
    assert reload(people["sam"]).role is None and reload(people["boss"]).role == "admin"
    page = text_of(browser.get("/members/"))
    assert "is an admin by ADMIN_TELEGRAM_IDS" in page and "Took 1 person off the team." in page


def test_taking_someone_off_the_team_hands_their_open_leads_over(browser, people, make_user):
    lee = make_user("sales", first_name="Lee")
    lead = leads.add_lead({"first_name": "Open"}, owner=people["sam"])
    browser.post("/members/action/", data={"action": "deactivate", "rowid": [str(people["sam"].id)]})
    assert Lead.get_by_id(lead.id).owner_id == lee.id
    [told] = OutboxMessage.select().where(OutboxMessage.key.startswith("handover:"))
    assert told.recipient_id == lee.id and "Sam left the team" in told.text
    [menu] = OutboxMessage.select().where(OutboxMessage.recipient == people["sam"].id,
                                          OutboxMessage.commands.is_null(False))
    assert menu.commands == "[]"  # their chat's menu goes back to the bot's default at once


def test_mark_reachable_clears_the_flag(browser, people):
    User.update(unreachable=True, unreachable_reason="Forbidden: bot was blocked by the user").execute()
    browser.post("/members/action/", data={"action": "reachable", "rowid": [str(people["sam"].id)]})
    assert not reload(people["sam"]).unreachable and reload(people["ann"]).unreachable


def test_people_cannot_be_created_or_deleted_here(browser, people):
    assert browser.get("/members/new/").status_code == 302  # Flask-Admin: not allowed
    browser.post("/members/delete/", data={"id": people["sam"].id})
    assert User.select().count() == 4


@pytest.fixture
def messages(people):
    sam = people["sam"]
    for n in range(4):
        outbox.enqueue(f"k{n}", sam, f"message <b>{n}</b>")
    rows = list(OutboxMessage.select().order_by(OutboxMessage.id))
    OutboxMessage.update(status="failed", last_error="Bad Request: chat not found").where(
        OutboxMessage.id == rows[1].id).execute()
    OutboxMessage.update(status="sent").where(OutboxMessage.id == rows[2].id).execute()
    return rows


def test_outbox_lists_status_error_and_text(browser, messages):
    page = text_of(browser.get("/outbox/"))
    assert "Bad Request: chat not found" in page and "message 3" in page
    failed_only = text_of(browser.get("/outbox/?flt0_0=failed"))
    assert "message 1" in failed_only and "message 0" not in failed_only
    outbox.enqueue("menu", messages[0].recipient, "", commands="[]")
    assert "(their command menu, for their new role)" in text_of(browser.get("/outbox/"))


def test_retry_failed_and_cancel_pending(browser, messages):
    ids = [str(m.id) for m in messages]
    browser.post("/outbox/action/", data={"action": "retry", "rowid": ids})
    browser.post("/outbox/action/", data={"action": "cancel", "rowid": [ids[0]]})
    statuses = [m.status for m in OutboxMessage.select().order_by(OutboxMessage.id)]
    assert statuses == ["cancelled", "pending", "sent", "pending"]
    retried = OutboxMessage.get_by_id(messages[1].id)
    assert retried.attempts == 0 and retried.last_error is None
    assert sorted(c.id for c in outbox.claim_batch(10)) == [messages[1].id, messages[3].id]


def test_outbox_details_and_read_only(browser, messages):
    assert browser.get(f"/outbox/details/?id={messages[1].id}").status_code == 200
    assert browser.get(f"/outbox/edit/?id={messages[1].id}").status_code == 302


def test_the_edit_form_shows_the_current_role(browser, people):
    page = text_of(browser.get(f"/members/edit/?id={people['cid'].id}"))
    assert '<option selected value="">Not on the team</option>' in page
    page = text_of(browser.get(f"/members/edit/?id={people['sam'].id}"))
    assert '<option selected value="sales">sales</option>' in page
