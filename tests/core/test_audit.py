"""The audit log: every kind of write made from chat, the panel's services, rules and
scheduled jobs leaves one entry with the right actor and the fields before -> after,
in the transaction of the change; on SQLite and Postgres."""
import datetime

import pytest

from models import Activity, AuditEntry, Invite, Lead, LeadScore, OutboxMessage, User, db
from services.core import audit
from services.core.actors import Actor
from services.crm import activities, leads, pipeline, scoring, team
from services.delivery import broadcasts, outbox
from services.followups import jobs
from tests.chat.helpers import NOW, data_of, make_lead, press, reply, say

PANEL = Actor.panel("boss")
DAY = datetime.timedelta(days=1)


def only(event):
    """The one entry `event` left, with its changes; fails on none or several."""
    [entry] = AuditEntry.select().where(AuditEntry.event == event)
    return entry, audit.changes_of(entry)


def by(entry):
    return entry.actor_kind, entry.actor_ref, entry.actor_label


def test_chat_writes_name_the_member(any_db, make_user):
    member = make_user(role="dispatcher", first_name="Dee")
    say(member, "/createLead")
    for answer in ("ann@example.com", "+44 20 7946 0958", "Ann", "Smith", "gb"):
        say(member, answer)
    press(member, "wiz:save")
    entry, changes = only("lead.created")
    lead = Lead.get()
    assert by(entry) == ("member", str(member.id), "Dee (dispatcher)")
    assert (entry.entity, entry.entity_id) == ("lead", lead.id)
    assert changes["email"] == (None, "ann@example.com") and changes["owner"] == (None, member.id)

    press(member, data_of(reply(member, f"/stage {lead.id}"), "contacted"))
    entry, changes = only("lead.stage_changed")
    assert by(entry)[0:2] == ("member", str(member.id))
    assert changes["stage"] == ("new", "contacted")

    say(member, f"/domain {lead.id} dental <clinics>")
    entry, changes = only("lead.updated")
    assert changes == {"business_domain": (None, "dental <clinics>")}

    say(member, f"/score {lead.id}")
    entry, changes = only("lead.scored")
    assert (entry.entity, entry.entity_id) == ("lead_score", LeadScore.get().id)

    say(member, "/notify off")
    entry, changes = only("user.updated")
    assert (entry.entity_id, changes) == (member.id, {"notify": (True, False)})


def test_activities_assignment_and_team_changes(any_db, admin, make_user):
    sam = make_user(first_name="Sam")
    lead = make_lead(admin, source="telegram")
    call = activities.log(Actor.member(admin), lead.id, "call", "Ring", due_at=NOW + DAY,
                          assigned_to=sam.id, now=NOW)
    entry, changes = only("activity.created")
    assert (entry.entity_id, changes["assigned_to"], changes["subject"]) == \
        (call.id, (None, sam.id), (None, "Ring"))
    activities.complete(Actor.member(sam), call.id, "no_answer", now=NOW)
    entry, changes = only("activity.completed")
    assert by(entry)[0:2] == ("member", str(sam.id))
    assert changes["outcome"] == (None, "no_answer") and changes["completed_by"] == (None, sam.id)

    pipeline.assign(PANEL, lead.id, sam.id, now=NOW)
    entry, changes = only("lead.assigned")
    assert by(entry) == ("panel", "boss", "admin panel (boss)")
    assert changes["owner"] == (admin.id, sam.id)

    invite = team.create_invite(admin, "dispatcher")
    entry, changes = only("invite.created")
    assert changes["token"] == (None, audit.MASK) and invite.token not in entry.changes
    newcomer = make_user(role=None, first_name="New")
    team.accept_invite(newcomer, invite.token)
    entry, changes = only("invite.accepted")
    assert by(entry)[0:2] == ("member", str(newcomer.id))
    entry, changes = only("user.role_changed")
    assert (entry.entity_id, changes["role"]) == (newcomer.id, (None, "dispatcher"))


def test_panel_services_name_the_login(any_db, admin, make_user):
    lead = leads.add_lead({"email": "b@example.com", "phone": "+14155552671", "first_name": "Bo",
                           "last_name": "Li", "country": "US"}, actor=PANEL)
    leads.update_lead(PANEL, lead.id, {"email": "bo@example.com", "phone": "+14155552671",
                                "first_name": "Bo", "last_name": "Li", "country": "US"})
    entry, changes = only("lead.updated")
    assert by(entry)[0] == "panel" and changes == {"email": ("b@example.com", "bo@example.com")}
    broadcast = broadcasts.send("Hello", "team", False, created_by="boss")
    entry, changes = only("broadcast.created")
    assert (entry.entity_id, by(entry)[1]) == (broadcast.id, "boss")
    message = OutboxMessage.select().where(OutboxMessage.broadcast == broadcast).first()
    assert outbox.cancel(PANEL, [message.id]) == 1
    entry, changes = only("outbox.cancelled")
    assert (entry.entity_id, changes) == (message.id, {"status": ("pending", "cancelled")})
    leads.delete_leads(PANEL, [lead.id])
    entry, changes = only("lead.deleted")
    assert changes["email"] == ("bo@example.com", None)


def test_rule_writes_name_the_rule(any_db, admin):
    lead = make_lead(admin, source="website", priority="urgent")  # the urgent-lead rule runs at once
    created = AuditEntry.select().where(AuditEntry.event == "activity.created",
                                        AuditEntry.actor_kind == "rule")
    assert created.count() >= 1
    for entry in created:
        activity = Activity.get_by_id(entry.entity_id)
        assert entry.actor_ref == str(activity.rule_id) and entry.actor_label.startswith("rule “")
        assert activity.lead_id == lead.id


def test_scheduled_jobs_name_the_job(any_db, admin):
    lead = make_lead(admin, source="telegram")
    call = activities.log(Actor.member(admin), lead.id, "call", "Ring", due_at=NOW - DAY, now=NOW - 2 * DAY)
    jobs.send_overdue_reminders(NOW)
    entry, changes = only("activity.reminded")
    assert by(entry) == ("job", "overdue_reminders", "scheduled job overdue_reminders")
    assert (entry.entity_id, changes["overdue_notified_at"][0]) == (call.id, None)

    Lead.update(last_activity_at=NOW - 30 * DAY).where(Lead.id == lead.id).execute()
    assert jobs.detect_stale(NOW, stale_days=7) == 1
    entry, changes = only("lead.stale")
    assert by(entry)[0:2] == ("job", "stale_leads") and changes["stale_event_at"][0] is None

    Invite.create(token="t", role="sales", created_by=admin, expires_at=NOW - 60 * DAY)
    jobs.cleanup(NOW)
    entry, changes = only("cleanup.deleted")
    assert (entry.entity, changes, by(entry)[1]) == ("invite", {"old invites": (1, 0)}, "cleanup")


def test_a_rolled_back_change_leaves_no_entry(any_db, admin):
    lead = make_lead(admin, source="telegram")
    before = AuditEntry.select().count()
    with pytest.raises(RuntimeError), db.atomic():
        pipeline.change_stage(Actor.member(admin), lead.id, "contacted", now=NOW)
        scoring.score_lead(Actor.member(admin), lead.id, now=NOW)
        raise RuntimeError("the update failed after the writes")
    assert AuditEntry.select().count() == before
    assert Lead.get_by_id(lead.id).stage == "new"
    # A refused change writes nothing either.
    with pytest.raises(pipeline.StageError):
        pipeline.change_stage(Actor.member(admin), lead.id, "qualified", now=NOW)
    assert AuditEntry.select().count() == before


def test_registration_from_telegram_is_leadgrams_own(any_db):
    user = team.register(4242, "ann", "Ann", None)
    team.register(4242, "ann_new", "Ann", None)
    entry, changes = only("user.updated")
    assert by(entry) == ("system", "telegram", "Leadgram (telegram)")
    assert changes == {"username": ("ann", "ann_new")}
    assert only("user.created")[0].entity_id == user.id
    assert User.get_by_id(user.id).username == "ann_new"


def test_entries_filters_newest_first(any_db, admin):
    first = make_lead(admin, n=1, source="telegram")
    second = make_lead(admin, n=2, source="telegram")
    newest = list(audit.entries(entity="lead"))
    assert [e.entity_id for e in newest if e.event == "lead.created"] == [second.id, first.id]
    assert {e.entity_id for e in audit.entries(entity="lead", entity_id=first.id)} == {first.id}
    assert all(e.actor_kind == "member" for e in audit.entries(actor_kind="member"))
    assert not list(audit.entries(since=NOW + DAY))
