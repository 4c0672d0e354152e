"""Lead and team changes made without a chat actor (the admin panel), on SQLite and Postgres."""
import datetime
import pytest
from models import Broadcast, Lead, OutboxMessage, User, utcnow
from services.delivery import broadcasts, outbox
from services.ops import dashboard, health, heartbeat
from services.crm import leads, team
from services.core.config import load_settings


def add(n, creator=None, country="DE", created_at=None):
    lead = leads.add_lead({"email": f"l{n}@example.com", "phone": f"+1212555{n:04d}",
                           "first_name": "F", "last_name": f"L{n}", "country": country},
                          created_by=creator)
    if created_at:
        Lead.update(created_at=created_at).where(Lead.id == lead.id).execute()
    return lead


def test_lead_update_and_delete(any_db, make_user):
    sam = make_user("sales")
    one, two = add(1, sam), add(2, sam)
    with pytest.raises(leads.DuplicateLead):
        leads.update_lead(one.id, {"email": two.email, "phone": one.phone, "first_name": "A",
                                   "last_name": "B", "country": "FR"})
    updated = leads.update_lead(one.id, {"email": "A@X.org", "phone": one.phone, "first_name": "A",
                                         "last_name": "B", "country": "france"})
    assert (updated.email, updated.country, updated.created_by.id) == ("a@x.org", "FR", sam.id)
    assert leads.delete_leads([one.id, two.id, 999]) == 2
    with pytest.raises(LookupError):
        leads.update_lead(one.id, {"email": "c@x.org", "phone": "+12125550099", "first_name": "A",
                                   "last_name": "B", "country": "FR"})


def test_change_role_guards_admins(any_db, make_user):
    boss, ann = make_user("admin", telegram_id=1), make_user("admin")
    customer = make_user(None)
    with pytest.raises(team.TeamError, match="ADMIN_TELEGRAM_IDS"):
        team.change_role(boss.id, None, admin_ids={1})
    team.change_role(ann.id, "sales", admin_ids={1})
    with pytest.raises(team.TeamError, match="at least one admin"):
        team.change_role(boss.id, "sales")
    team.change_role(customer.id, "dispatcher")
    assert User.get_by_id(customer.id).joined_at is not None
    with pytest.raises(team.TeamError, match="Unknown role"):
        team.change_role(customer.id, "owner")
