"""Lead and team changes made without a chat actor (the admin panel), on SQLite and Postgres."""
from decimal import Decimal

import pytest

from models import AuditEntry, Lead, OutboxMessage, User
from services.core.actors import Actor
from services.crm import leads, team
from services.crm.access import AccessDenied

PANEL = Actor.panel()


def test_lead_update_and_delete(add_lead, any_db, make_user):
    sam = make_user("sales")
    one, two = add_lead(1, sam), add_lead(2, sam)
    with pytest.raises(leads.DuplicateLead):
        leads.update_lead(PANEL, one.id, {"email": two.email, "phone": one.phone, "first_name": "A",
                                   "last_name": "B", "country": "FR"})
    updated = leads.update_lead(PANEL, one.id, {"email": "A@X.org", "phone": one.phone, "first_name": "A",
                                         "last_name": "B", "country": "france"})
    assert (updated.email, updated.country, updated.created_by.id) == ("a@x.org", "FR", sam.id)
    assert leads.delete_leads(PANEL, [one.id, two.id, 999]) == 2
    with pytest.raises(LookupError):
        leads.update_lead(PANEL, one.id, {"email": "c@x.org", "phone": "+12125550099", "first_name": "A",
                                   "last_name": "B", "country": "FR"})


def test_change_role_guards_admins(any_db, make_user):
    boss, ann = make_user("admin", telegram_id=1), make_user("admin")
    customer = make_user(None)
    with pytest.raises(team.TeamError, match="ADMIN_TELEGRAM_IDS"):
        team.change_role(PANEL, boss.id, None, admin_ids={1})
    team.change_role(PANEL, ann.id, "sales", admin_ids={1})
    with pytest.raises(team.TeamError, match="at least one admin"):
        team.change_role(PANEL, boss.id, "sales")
    team.change_role(PANEL, customer.id, "dispatcher")
    assert User.get_by_id(customer.id).joined_at is not None
    with pytest.raises(team.TeamError, match="Unknown role"):
        team.change_role(PANEL, customer.id, "owner")


# One edit, one service call, one transaction (the panel's lead and member forms) --------

def lead_fields(lead, **changes):
    """The contact fields of `lead` as the panel's form posts them, with `changes`."""
    return {"email": lead.email, "phone": lead.phone, "first_name": lead.first_name,
            "last_name": lead.last_name, "country": lead.country, **changes}


def assignments(lead):
    return AuditEntry.select().where(AuditEntry.event == "lead.assigned",
                                     AuditEntry.entity_id == lead.id).count()


def test_edit_lead_saves_fields_details_and_owner_together(add_lead, any_db, make_user):
    sam = make_user("sales", first_name="Sam")
    lead = add_lead(1)
    edited = leads.edit_lead(PANEL, lead.id, lead_fields(lead, email="New@X.org"),
                             {"source": "website", "business_domain": " shoes ", "priority": "high",
                              "value": "1,500.50"}, sam.id)
    assert (edited.email, edited.source, edited.business_domain, edited.priority, edited.value,
            edited.owner_id) == ("new@x.org", "website", "shoes", "high", Decimal("1500.50"), sam.id)
    assert assignments(lead) == 1
    assert OutboxMessage.select().where(OutboxMessage.recipient == sam.id,
                                        OutboxMessage.key.startswith(f"assign:{lead.id}:")).count() == 1
    leads.edit_lead(PANEL, lead.id, lead_fields(edited, first_name="Again"), {}, sam.id)
    assert assignments(lead) == 1  # the same owner is not assigned again
    assert Lead.get_by_id(lead.id).first_name == "Again"


def test_a_refused_owner_leaves_the_saved_fields_and_details_unsaved(add_lead, any_db, make_user):
    customer = make_user(None)  # not on the team
    lead = add_lead(1)
    before = Lead.get_by_id(lead.id)
    with pytest.raises(AccessDenied, match="not on the team"):
        leads.edit_lead(PANEL, lead.id, lead_fields(lead, email="new@x.org", first_name="Changed"),
                        {"source": "website", "value": "99"}, customer.id)
    after = Lead.get_by_id(lead.id)
    assert (after.email, after.first_name, after.source, after.value, after.owner_id) == (
        before.email, before.first_name, before.source, before.value, None)
    assert assignments(lead) == 0


def test_a_refused_detail_leaves_the_contact_fields_unsaved(add_lead, any_db):
    lead = add_lead(1)
    with pytest.raises(ValueError, match="Value must be"):
        leads.edit_lead(PANEL, lead.id, lead_fields(lead, email="new@x.org"), {"value": "lots"})
    assert Lead.get_by_id(lead.id).email == lead.email


def test_edit_lead_keeps_the_lead_rules(add_lead, any_db, make_user):
    sam, other = make_user("sales"), make_user("sales")
    lead, two = add_lead(1), add_lead(2)
    leads.edit_lead(PANEL, lead.id, lead_fields(lead), {}, sam.id)
    with pytest.raises(leads.OwnerKept, match="keeps an owner"):  # no going back to nobody
        leads.edit_lead(PANEL, lead.id, lead_fields(lead, email="new@x.org"), {}, None)
    with pytest.raises(leads.DuplicateLead):
        leads.edit_lead(PANEL, lead.id, lead_fields(lead, email=two.email), {}, sam.id)
    with pytest.raises(AccessDenied):  # a salesperson changes only their own leads
        leads.edit_lead(Actor.member(other), lead.id, lead_fields(lead, email="new@x.org"), {}, sam.id)
    assert leads.edit_lead(Actor.member(sam), lead.id, lead_fields(lead, first_name="Mine"), {},
                           sam.id).first_name == "Mine"
    assert Lead.get_by_id(lead.id).email == lead.email
    with pytest.raises(LookupError, match="no longer exists"):
        leads.edit_lead(PANEL, 999, lead_fields(lead), {}, None)


def test_edit_member_changes_role_and_notifications_together(any_db, make_user):
    cid = make_user(None, notify=True, unreachable=True, unreachable_reason="Forbidden")
    edited = team.edit_member(PANEL, cid.id, "sales", False)
    assert (edited.role, edited.notify, edited.unreachable) == ("sales", False, True)
    assert edited.joined_at is not None
    with pytest.raises(team.TeamError, match="has not started the bot"):
        team.edit_member(PANEL, 999, "sales", True)


def test_a_refused_role_change_saves_nothing_of_the_member_edit(any_db, make_user):
    boss = make_user("admin", telegram_id=1, notify=True)
    with pytest.raises(team.TeamError, match="ADMIN_TELEGRAM_IDS"):
        team.edit_member(PANEL, boss.id, "sales", False, admin_ids={1})
    fresh = User.get_by_id(boss.id)
    assert (fresh.role, fresh.notify) == ("admin", True)


def test_a_refused_second_half_undoes_the_role_change(any_db, make_user, monkeypatch):
    sam = make_user("sales")

    def refuse(*args, **kwargs):
        raise team.TeamError("refused")
    monkeypatch.setattr(team, "set_member_notify", refuse)
    with pytest.raises(team.TeamError, match="refused"):
        team.edit_member(PANEL, sam.id, "dispatcher", False)
    assert User.get_by_id(sam.id).role == "sales"
