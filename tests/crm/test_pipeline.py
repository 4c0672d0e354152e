"""The lead pipeline on every backend: allowed moves, the transfer gate, the audit log,
visibility, assignment and details."""
import datetime
import decimal

import pytest

from models import Activity, Lead, LeadScore, OutboxMessage, StageChange
from services.core import policy
from services.core.actors import Actor
from services.crm import activities, pipeline
from services.crm.access import AccessDenied, require_activity, visible_activities, visible_leads
from services.crm.pipeline import StageError

NOW = datetime.datetime(2026, 3, 2, 9, 0)
PANEL = Actor.panel("boss")


def scored(lead, score, at=NOW):
    return LeadScore.create(lead=lead, score=score, recommendation="qualify", reason="test",
                            model="local", signature="s", created_at=at)


LEAD_MOVES = [(a, b) for a, nexts in pipeline.LEAD_FLOW.items() for b in nexts]
SALES_MOVES = [(a, b) for a, nexts in pipeline.SALES_FLOW.items() for b in nexts]


@pytest.mark.parametrize("before, after", LEAD_MOVES)
def test_every_allowed_lead_move(any_db, make_lead, before, after):
    lead = make_lead(stage=before, business_domain="fintech")
    scored(lead, 0.9)
    change = pipeline.change_stage(PANEL, lead.id, after, now=NOW)
    lead = Lead.get_by_id(lead.id)
    assert (change.pipeline, change.from_stage, change.to_stage) == ("lead", before, after)
    assert (lead.stage, lead.sales_stage) == (after, "new" if after == "transferred" else None)
    assert lead.last_activity_at == NOW


@pytest.mark.parametrize("before, after", SALES_MOVES)
def test_every_allowed_sales_move(any_db, make_lead, before, after):
    lead = make_lead(stage="transferred", sales_stage=before)
    change = pipeline.change_stage(PANEL, lead.id, after, now=NOW)
    assert (change.pipeline, change.from_stage, change.to_stage) == ("sales", before, after)
    lead = Lead.get_by_id(lead.id)
    assert (lead.stage, lead.sales_stage) == ("transferred", after)


def test_the_moves_are_exactly_the_seed_pipeline():
    assert LEAD_MOVES == [("new", "contacted"), ("new", "lost"), ("contacted", "qualified"),
                          ("contacted", "lost"), ("qualified", "transferred"), ("qualified", "lost")]
    assert SALES_MOVES == [("new", "kyc"), ("kyc", "agreement"), ("agreement", "paid")]


@pytest.mark.parametrize("stage, sales_stage, to, message", [
    ("new", None, "qualified", "Lead #1 is new; it can move to contacted or lost, not qualified."),
    ("new", None, "transferred", "Lead #1 is new; it can move to contacted or lost, not transferred."),
    ("contacted", None, "new", "Lead #1 is contacted; it can move to qualified or lost, not new."),
    ("qualified", None, "contacted", "Lead #1 is qualified; it can move to transferred or lost, not contacted."),
    ("lost", None, "new", "Lead #1 is lost, which is final; it cannot move on."),
    ("lost", None, "contacted", "Lead #1 is lost, which is final; it cannot move on."),
    ("transferred", "new", "lost", "Lead #1's sale is new; it can move to kyc, not lost."),
    ("transferred", "new", "paid", "Lead #1's sale is new; it can move to kyc, not paid."),
    ("transferred", "kyc", "new", "Lead #1's sale is kyc; it can move to agreement, not new."),
    ("transferred", "paid", "agreement", "Lead #1's sale is paid, which is final; it cannot move on."),
])
def test_other_moves_are_refused_with_a_reason(any_db, make_lead, stage, sales_stage, to, message):
    lead = make_lead(stage=stage, sales_stage=sales_stage)
    with pytest.raises(StageError) as refused:
        pipeline.change_stage(PANEL, lead.id, to, now=NOW)
    assert str(refused.value) == message
    assert StageChange.select().count() == 0
    assert (Lead.get_by_id(lead.id).stage, Lead.get_by_id(lead.id).sales_stage) == (stage, sales_stage)


def test_open_and_final_stages(any_db, make_lead):
    for stage in ("new", "contacted", "qualified"):
        assert make_lead(stage=stage).is_open
    assert not make_lead(stage="lost").is_open
    assert make_lead(stage="transferred", sales_stage="agreement").is_open
    assert not make_lead(stage="transferred", sales_stage="paid").is_open
    assert pipeline.next_stages(make_lead(stage="transferred", sales_stage="new")) == ("kyc",)
    # The query and the property are the one definition of "open", told twice: they agree.
    assert {lead.id for lead in Lead.open()} == {lead.id for lead in Lead.select() if lead.is_open}


@pytest.mark.parametrize("score, domain, problems", [
    (None, None, "it has no score yet (score it first); its business domain is not set"),
    (None, "fintech", "it has no score yet (score it first)"),
    (0.4, "fintech", "its latest score 0.40 is below 0.60"),
    (0.9, "  ", "its business domain is not set"),
    (0.59, None, "its latest score 0.59 is below 0.60; its business domain is not set"),
])
def test_the_transfer_gate_names_every_condition_that_fails(any_db, make_lead, score, domain, problems):
    lead = make_lead(stage="qualified", business_domain=domain)
    if score is not None:
        scored(lead, score)
    with pytest.raises(StageError) as refused:
        pipeline.transfer(PANEL, lead.id, now=NOW)
    assert str(refused.value) == f"Lead #{lead.id} cannot be transferred: {problems}."
    assert Lead.get_by_id(lead.id).stage == "qualified"


def test_transfer_uses_the_latest_score_and_the_configured_minimum(any_db, make_lead, monkeypatch):
    lead = make_lead(stage="qualified", business_domain="fintech")
    scored(lead, 0.9, at=NOW - datetime.timedelta(days=1))
    scored(lead, 0.5, at=NOW)
    assert pipeline.transfer_problems(lead) == ["its latest score 0.50 is below 0.60"]
    scored(lead, 0.78, at=NOW + datetime.timedelta(minutes=1))
    monkeypatch.setattr(policy, "_current", policy.Policy(transfer_min_score=0.8))
    assert pipeline.transfer_problems(lead) == ["its latest score 0.78 is below 0.80"]
    monkeypatch.setattr(policy, "_current", policy.Policy(transfer_min_score=0.6))
    assert pipeline.transfer_problems(lead) == []
    pipeline.transfer(PANEL, lead.id, now=NOW)
    lead = Lead.get_by_id(lead.id)
    assert (lead.stage, lead.sales_stage) == ("transferred", "new")


def test_every_change_is_in_the_audit_log(any_db, make_lead, make_user):
    dispatcher = make_user(role="dispatcher", first_name="Dana")
    lead = make_lead()
    pipeline.change_stage(Actor.member(dispatcher), lead.id, "contacted", now=NOW)
    pipeline.change_stage(PANEL, lead.id, "lost", now=NOW + datetime.timedelta(hours=1))
    log = [(c.pipeline, c.from_stage, c.to_stage, c.changed_by_id, c.actor, c.changed_at)
           for c in StageChange.select().order_by(StageChange.id)]
    assert log == [("lead", "new", "contacted", dispatcher.id, "Dana (dispatcher)", NOW),
                   ("lead", "contacted", "lost", None, "admin panel (boss)", NOW + datetime.timedelta(hours=1))]


def test_a_change_made_meanwhile_is_not_overwritten(any_db, make_lead, monkeypatch):
    lead = make_lead()
    stale = Lead.get_by_id(lead.id)
    pipeline.change_stage(PANEL, lead.id, "contacted", now=NOW)
    # The second press read the lead before the first one's change was saved.
    monkeypatch.setattr(pipeline, "require_lead", lambda actor, lead_id: stale)
    with pytest.raises(StageError, match=rf"^Lead #{lead.id} was changed meanwhile; look again\.$"):
        pipeline.change_stage(PANEL, lead.id, "lost", now=NOW)
    assert Lead.get_by_id(lead.id).stage == "contacted"
    assert StageChange.select().count() == 1


def test_sales_members_see_and_change_only_their_own_leads(any_db, make_lead, make_user):
    sam, sue = make_user(first_name="Sam"), make_user(first_name="Sue")
    dispatcher, admin = make_user(role="dispatcher"), make_user(role="admin")
    mine, theirs, nobodys = make_lead(owner=sam), make_lead(owner=sue), make_lead()
    as_sam = Actor.member(sam)
    assert [lead.id for lead in visible_leads(as_sam)] == [mine.id]
    with pytest.raises(AccessDenied, match=rf"^Lead #{theirs.id} is not yours"):
        pipeline.change_stage(as_sam, theirs.id, "contacted", now=NOW)
    with pytest.raises(AccessDenied):
        pipeline.change_stage(as_sam, nobodys.id, "contacted", now=NOW)
    with pytest.raises(AccessDenied):
        pipeline.set_details(as_sam, theirs.id, priority="high")
    pipeline.change_stage(as_sam, mine.id, "contacted", now=NOW)
    for boss in (dispatcher, admin):
        assert visible_leads(Actor.member(boss)).count() == 3
    pipeline.change_stage(Actor.member(dispatcher), theirs.id, "contacted", now=NOW)
    pipeline.change_stage(Actor.member(admin), nobodys.id, "lost", now=NOW)
    with pytest.raises(LookupError, match="There is no lead #999"):
        pipeline.change_stage(Actor.member(admin), 999, "lost", now=NOW)


def test_sales_members_see_and_complete_only_their_own_activities(any_db, make_lead, make_user):
    sam, sue, dispatcher = make_user(), make_user(), make_user(role="dispatcher")
    lead = make_lead(owner=sam)
    as_dispatcher = Actor.member(dispatcher)
    for_sam = activities.log(as_dispatcher, lead.id, "call", "Sam's call", assigned_to=sam.id, now=NOW)
    for_sue = activities.log(as_dispatcher, lead.id, "call", "Sue's call", assigned_to=sue.id, now=NOW)
    assert [a.id for a in visible_activities(Actor.member(sam))] == [for_sam.id]
    with pytest.raises(AccessDenied, match=rf"^Activity #{for_sue.id} is assigned to someone else\.$"):
        require_activity(Actor.member(sam), for_sue.id)
    with pytest.raises(AccessDenied):
        activities.complete(Actor.member(sam), for_sue.id, "successful", now=NOW)
    with pytest.raises(AccessDenied, match="Only dispatchers and admins give activities to others"):
        activities.log(Actor.member(sam), lead.id, "call", "For Sue", assigned_to=sue.id, now=NOW)
    activities.complete(Actor.member(sam), for_sam.id, "successful", now=NOW)
    assert visible_activities(as_dispatcher).count() == 2
    activities.complete(as_dispatcher, for_sue.id, "no_answer", now=NOW)
    assert Activity.get_by_id(for_sue.id).outcome == "no_answer"


def test_only_dispatchers_and_admins_assign(any_db, make_lead, make_user):
    sam, sue = make_user(first_name="Sam"), make_user(first_name="Sue")
    dispatcher = make_user(role="dispatcher", first_name="Dana")
    stranger = make_user(role=None)
    lead = make_lead(owner=sam, first_name="<i>Ann</i>")
    with pytest.raises(AccessDenied, match="^Only dispatchers and admins assign leads.$"):
        pipeline.assign(Actor.member(sue), lead.id, sue.id, now=NOW)  # not hers to give
    with pytest.raises(AccessDenied, match="^That person is not on the team.$"):
        pipeline.assign(Actor.member(dispatcher), lead.id, stranger.id, now=NOW)
    assert pipeline.assign(Actor.member(dispatcher), lead.id, sue.id, now=NOW) == sue
    lead = Lead.get_by_id(lead.id)
    assert (lead.owner_id, lead.assigned_at) == (sue.id, NOW)
    [entry] = [e for e in activities.timeline(PANEL, lead.id)[1] if e.kind == "assignment"]
    assert (entry.at, entry.text, entry.who) == (NOW, "Assigned to Sue (was Sam)", "Dana (dispatcher)")
    assert Activity.select().count() == 0  # an assignment is no activity (it used to be a note)
    [message] = OutboxMessage.select().where(OutboxMessage.key.startswith("assign:"))
    assert message.recipient_id == sue.id
    assert message.text.startswith(f"<b>Yours now: lead #{lead.id}</b>\nName: &lt;i&gt;Ann&lt;/i&gt; Example")
    assert message.text.endswith("Given to you by Dana (dispatcher).")


def test_an_owner_may_give_their_own_lead_away(any_db, make_lead, make_user):
    sam, sue = make_user(first_name="Sam"), make_user(first_name="Sue")
    lead = make_lead(owner=sam)
    assert pipeline.assign(Actor.member(sam), lead.id, sue.id, now=NOW) == sue
    with pytest.raises(AccessDenied, match="^Only dispatchers and admins assign leads.$"):
        pipeline.assign(Actor.member(sam), lead.id, sam.id, now=NOW)  # no longer his


def test_round_robin_needs_a_team(any_db, make_lead):
    lead = make_lead()
    with pytest.raises(AccessDenied, match="^There is nobody on the team to assign it to.$"):
        pipeline.assign(PANEL, lead.id, "round_robin", now=NOW)


def test_round_robin_skips_unreachable_salespeople_and_falls_back_to_the_team(any_db, make_lead, make_user):
    admin = make_user(role="admin")
    assert pipeline.round_robin_member() == admin
    a = make_user()
    make_user(unreachable=True)  # skipped
    b = make_user()
    picked = [pipeline.assign(PANEL, make_lead().id, "round_robin", now=NOW + datetime.timedelta(minutes=n))
              for n in range(3)]
    assert picked == [a, b, a]


def test_details_are_validated_and_saved(any_db, make_lead):
    lead = make_lead()
    saved = pipeline.set_details(PANEL, lead.id, source=" Partner ", priority="HIGH",
                                 business_domain="  fin\x00tech   lending ", value="1,500.5")
    assert (saved.source, saved.priority, saved.business_domain, saved.value) == \
        ("partner", "high", "fintech lending", decimal.Decimal("1500.50"))
    assert pipeline.set_details(PANEL, lead.id, business_domain="   ").business_domain is None
    assert pipeline.set_details(PANEL, lead.id, value=None).value == 0


@pytest.mark.parametrize("raw, message", [
    ({"source": "fax"}, "Source must be one of: website, referral, partner, telegram, other."),
    ({"source": None}, "Source must be one of:"),
    ({"priority": "asap"}, "Priority must be one of: low, normal, high, urgent."),
    ({"value": "lots"}, "Value must be an amount like 1500 or 1500.50, got 'lots'."),
    ({"value": "12\x00"}, "Value must be an amount like 1500 or 1500.50"),
    ({"value": "-1"}, "Value must be between 0 and 9,999,999,999.99."),
    ({"value": "NaN"}, "Value must be between 0 and 9,999,999,999.99."),
    ({"value": "Infinity"}, "Value must be between 0 and 9,999,999,999.99."),
    ({"value": "10000000000"}, "Value must be between 0 and 9,999,999,999.99."),
    ({"business_domain": "x" * 101}, "The business domain is too long (at most 100 characters)."),
])
def test_bad_details_are_refused(any_db, make_lead, raw, message):
    lead = make_lead(source="website")
    with pytest.raises(ValueError) as refused:
        pipeline.set_details(PANEL, lead.id, **raw)
    assert str(refused.value).startswith(message)
    assert Lead.get_by_id(lead.id).source == "website"


def test_stage_totals_count_leads_and_add_values_per_stage(any_db, make_lead):
    for stage, sales_stage, value in (("new", None, "100"), ("new", None, "50.25"), ("qualified", None, "0"),
                                      ("lost", None, "999"), ("transferred", "new", "1000"),
                                      ("transferred", "paid", "2500.50"), ("transferred", "paid", "10")):
        make_lead(stage=stage, sales_stage=sales_stage, value=decimal.Decimal(value))
    D = decimal.Decimal
    assert pipeline.stage_totals() == [
        ("lead", "new", 2, D("150.25")), ("lead", "contacted", 0, D(0)), ("lead", "qualified", 1, D("0")),
        ("lead", "lost", 1, D("999")),
        ("sales", "new", 1, D("1000")), ("sales", "kyc", 0, D(0)), ("sales", "agreement", 0, D(0)),
        ("sales", "paid", 2, D("2510.50"))]
