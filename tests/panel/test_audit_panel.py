"""The audit log in the panel: every write made there names the login; the Audit log
page lists entries newest first, filters them, exports CSV and escapes what people typed."""
import csv
import io

import pytest

from models import AuditEntry, FollowUpRule, Lead, OutboxMessage
from services.crm import leads
from tests.panel.conftest import USERNAME, text_of

LEAD = {"email": "ada@example.com", "phone": "+44 20 7946 0958", "first_name": "Ada",
        "last_name": "Lovelace", "country": "United Kingdom"}
RULE = {"name": "Partner lead", "description": "", "event": "lead.created", "priority": "5",
        "active": "y", "conditions": "source equals partner", "actions": "assign round_robin"}


@pytest.fixture
def team(app, make_user):
    return [make_user("admin", first_name="Ann"), make_user("sales", first_name="Sam")]


def events_by_login():
    return [(e.event, e.entity) for e in AuditEntry.select().where(
        AuditEntry.actor_kind == "panel", AuditEntry.actor_ref == USERNAME).order_by(AuditEntry.id)]


def test_every_write_in_the_panel_names_the_login(browser, team):
    ann, sam = team
    assert browser.post("/leads/new/", data=LEAD).status_code == 302
    lead = Lead.get()
    browser.post(f"/leads/edit/?id={lead.id}", data={**LEAD, "first_name": "Augusta",
                                                     "owner_id": str(sam.id)})
    browser.post(f"/lead/{lead.id}/stage", data={"stage": "contacted"})
    browser.post("/rules/new/", data=RULE)
    rule = FollowUpRule.get(FollowUpRule.name == "Partner lead")
    browser.post("/rules/action/", data={"action": "deactivate", "rowid": [str(rule.id)]})
    browser.post(f"/members/edit/?id={sam.id}", data={"role": "dispatcher", "notify": ""})
    message = OutboxMessage.select().where(OutboxMessage.recipient == ann.id).first()
    browser.post("/outbox/action/", data={"action": "cancel", "rowid": [str(message.id)]})
    browser.post("/leads/delete/", data={"id": lead.id})
    browser.post("/logout")
    assert events_by_login() == [
        ("panel.logged_in", "panel_session"),
        ("lead.created", "lead"),
        ("lead.updated", "lead"), ("lead.assigned", "lead"),  # the timeline reads it from here
        ("lead.stage_changed", "lead"),
        ("rule.created", "follow_up_rule"), ("rule.switched_off", "follow_up_rule"),
        ("user.role_changed", "user"), ("user.updated", "user"),
        ("outbox.cancelled", "outbox"),
        ("lead.deleted", "lead"),
        ("panel.logged_out", "panel_session"),
    ]
    edited = AuditEntry.get(AuditEntry.event == "lead.updated")
    assert '"first_name": ["Ada", "Augusta"]' in edited.changes


def test_a_refused_panel_edit_leaves_no_entry(browser, team):
    browser.post("/leads/new/", data=LEAD)
    lead = Lead.get()
    before = AuditEntry.select().count()
    response = browser.post(f"/leads/edit/?id={lead.id}", data={**LEAD, "email": "not an email"})
    assert response.status_code == 200 and AuditEntry.select().count() == before


def test_the_page_lists_filters_exports_and_escapes(browser, team):
    ann, sam = team
    first = leads.add_lead({**LEAD, "first_name": "<script>alert(1)</script>"}, created_by=ann)
    second = leads.add_lead({**LEAD, "email": "b@example.com", "phone": "+442079460959"},
                            created_by=sam)
    page = text_of(browser.get("/audit/"))
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.index(f"lead #{second.id}") < page.index(f"lead #{first.id}")  # newest first
    assert "Ann (admin)" in page and "Sam (sales)" in page
    # Filters: record type and id, who, and the day in the team's zone.
    only_first = text_of(browser.get(f"/audit/?flt0_0=lead&flt1_1={first.id}"))
    assert f"lead #{first.id}" in only_first and f"lead #{second.id}" not in only_first
    by_sam = text_of(browser.get("/audit/?flt0_3=Sam"))
    assert f"lead #{second.id}" in by_sam and f"lead #{first.id}" not in by_sam
    assert "lead #" not in text_of(browser.get("/audit/?flt0_5=2999-01-01"))
    assert "lead #" in text_of(browser.get("/audit/?flt0_6=2999-01-01"))
    refused = browser.get("/audit/?flt0_5=yesterday")
    assert refused.status_code == 200
    exported = browser.get("/audit/export/csv/?flt0_0=lead")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {row["Record #"] for row in rows} >= {str(first.id), str(second.id)}
    assert all(row["Record"] == "lead" for row in rows)
    assert "first_name: — → <script>alert(1)</script>" in next(
        row["Changes (before → after)"] for row in rows if row["Record #"] == str(first.id))


def test_the_audit_log_is_read_only_and_behind_the_login(client, browser, team):
    leads.add_lead(LEAD, created_by=team[0])
    entry = AuditEntry.get()
    for path in ("/audit/new/", f"/audit/edit/?id={entry.id}"):
        assert browser.get(path).status_code in (302, 403, 404)
    browser.post("/audit/delete/", data={"id": entry.id})
    assert AuditEntry.select().where(AuditEntry.id == entry.id).exists()
    browser.post("/logout")
    assert client.get("/audit/").status_code == 302
    assert client.get("/audit/export/csv/").status_code == 302


def test_a_lead_timeline_shows_edits_of_its_fields(browser, team):
    browser.post("/leads/new/", data=LEAD)
    lead = Lead.get()
    browser.post(f"/leads/edit/?id={lead.id}", data={**LEAD, "email": "ada@lovelace.org"})
    page = text_of(browser.get(f"/lead/{lead.id}/pipeline"))
    assert "email: ada@example.com → ada@lovelace.org" in page
    assert f"admin panel ({USERNAME})" in page


def test_every_view_that_writes_does_it_through_a_service(app):
    """Flask-Admin's own create/update/delete save the model directly, which would skip
    the service's rules, its events and the audit entry: a view that may write overrides
    them (and calls one service)."""
    from flask_admin.contrib.peewee import ModelView
    views = [view for view in app.extensions["admin"][0]._views if isinstance(view, ModelView)]
    assert len(views) >= 6
    for view in views:
        for allowed, method in (("can_create", "create_model"), ("can_edit", "update_model"),
                                ("can_delete", "delete_model")):
            if getattr(view, allowed):
                assert getattr(type(view), method) is not getattr(ModelView, method), \
                    f"{type(view).__name__}.{method} is Flask-Admin's own"
        if "delete" in {name for name, _ in view.get_actions_list()[0]}:
            assert type(view).action_delete is not ModelView.action_delete, \
                f"{type(view).__name__}'s bulk delete is Flask-Admin's own"
