"""The lead pipeline (seed 004): stages, the transfer gate, owners and the audit log.

    lead:  new -> contacted -> qualified -> transferred      (final)
            \\________\\____________\\------> lost            (from any open stage)
    sales (after transfer): new -> kyc -> agreement -> paid  (final)

Every change is written to StageChange (the pipeline's own history, which the
timeline and reports read) and emits lead.stage_changed (the audit log, the
follow-up rules) in the same transaction.
"""
import decimal
import itertools

from peewee import fn

from models import (
    LEAD_STAGES,
    PRIORITIES,
    SOURCES,
    Lead,
    LeadScore,
    StageChange,
    User,
    db,
    utcnow,
)
from services.core import events
from services.core.actors import SEE_ALL_ROLES
from services.core.inputs import plain_text
from services.core.policy import current as policy
from services.crm import messages
from services.crm.access import AccessDenied, require_lead

LEAD_FLOW = {"new": ("contacted", "lost"), "contacted": ("qualified", "lost"),
             "qualified": ("transferred", "lost"), "transferred": (), "lost": ()}
SALES_FLOW = {"new": ("kyc",), "kyc": ("agreement",), "agreement": ("paid",), "paid": ()}
MAX_VALUE = decimal.Decimal("9999999999.99")
MAX_DOMAIN = 100


class StageError(ValueError):
    """A stage change the pipeline does not allow; the message says why."""


def pipeline_of(lead):
    return "sales" if lead.stage == "transferred" else "lead"


def current_stage(lead):
    return lead.sales_stage if pipeline_of(lead) == "sales" else lead.stage


def next_stages(lead):
    flow = SALES_FLOW if pipeline_of(lead) == "sales" else LEAD_FLOW
    return flow[current_stage(lead)]


def latest_score(lead_id):
    return (LeadScore.select().where(LeadScore.lead == lead_id)
            .order_by(LeadScore.created_at.desc(), LeadScore.id.desc()).first())


def transfer_problems(lead, min_score=None):
    """Why `lead` may not be transferred yet; empty when it may (business rule, not the AI)."""
    min_score = policy().transfer_min_score if min_score is None else min_score
    problems = []
    if lead.stage != "qualified":
        problems.append(messages.TRANSFER_NOT_QUALIFIED.format(stage=lead.stage))
    score = latest_score(lead.id)
    if score is None:
        problems.append(messages.TRANSFER_NO_SCORE)
    elif score.score < min_score:
        problems.append(messages.TRANSFER_LOW_SCORE.format(score=score.score, min_score=min_score))
    if not (lead.business_domain or "").strip():
        problems.append(messages.TRANSFER_NO_DOMAIN)
    return problems


def change_stage(actor, lead_id, to_stage, now=None, depth=0):
    """Move a lead (or its sale) one allowed step; returns the StageChange."""
    now = now or utcnow()
    with db.atomic():
        lead = require_lead(actor, lead_id)
        pipeline, before = pipeline_of(lead), current_stage(lead)
        allowed = next_stages(lead)
        if to_stage not in allowed:
            subject = f"Lead #{lead.id}'s sale" if pipeline == "sales" else f"Lead #{lead.id}"
            if not allowed:
                raise StageError(messages.STAGE_FINAL.format(subject=subject, stage=before))
            raise StageError(messages.STAGE_NOT_NEXT.format(
                subject=subject, stage=before, allowed=" or ".join(allowed), to=to_stage))
        if to_stage == "transferred":
            problems = transfer_problems(lead)
            if problems:
                raise StageError(messages.NOT_TRANSFERABLE.format(lead_id=lead.id,
                                                                  problems="; ".join(problems)))
        column = Lead.sales_stage if pipeline == "sales" else Lead.stage
        changes = {column: to_stage, Lead.last_activity_at: now}
        if to_stage == "transferred":
            changes[Lead.sales_stage] = "new"
        # The WHERE makes two people pressing at once move it only once.
        if not Lead.update(changes).where(Lead.id == lead.id, column == before).execute():
            raise StageError(messages.STAGE_CHANGED_MEANWHILE.format(lead_id=lead.id))
        change = StageChange.create(lead=lead, pipeline=pipeline, from_stage=before,
                                    to_stage=to_stage, changed_by=actor.user_id,
                                    actor=actor.label, changed_at=now)
        moved = events.changed(lead, changes)
        lead = Lead.get_by_id(lead.id)
        events.emit("lead.stage_changed", actor, "lead", lead.id, moved, lead=lead, now=now,
                    depth=depth, fields={"pipeline": pipeline, "from_stage": before,
                                         "to_stage": to_stage})
    return change


def transfer(actor, lead_id, to_member="round_robin", now=None):
    """Move a qualified lead to sales and hand it to a salesperson (`to_member`, else the
    next reachable one by round robin) in one transaction; returns (StageChange, the new
    owner, or None when sales has nobody to take it and it stays with its owner)."""
    now = now or utcnow()
    with db.atomic():
        if to_member != "round_robin":
            _require_salesperson(to_member)
        member = to_member if to_member != "round_robin" else round_robin_member(sales_only=True)
        change = change_stage(actor, lead_id, "transferred", now=now)
        if member is None:
            return change, None
        return change, _hand_to(actor, lead_id, getattr(member, "id", member), now)


def _require_salesperson(member_id):
    member = User.get_or_none(User.id == member_id)
    if member is None or not member.is_team or member.role != "sales":
        raise AccessDenied(messages.NOT_A_SALESPERSON)


def round_robin_member(sales_only=False):
    """The next salesperson after whoever was given a lead last (everyone on the
    team if there are no reachable salespeople, unless `sales_only`); None when there
    is nobody."""
    return next(round_robin(sales_only), None)


def round_robin(sales_only=False):
    """round_robin_member, then the one after, and so on without end (nothing when there
    is nobody): for handing out many leads with one read of the team."""
    people = list(User.team().where(User.role == "sales", User.unreachable == False))  # noqa: E712
    people = people or ([] if sales_only else list(User.team()))
    if not people:
        return iter(())
    last = (Lead.select(Lead.owner).where(Lead.owner.in_([p.id for p in people]),
                                          Lead.assigned_at.is_null(False))
            .order_by(Lead.assigned_at.desc(), Lead.id.desc()).first())
    after = last.owner_id if last else 0
    start = next((n for n, p in enumerate(people) if p.id > after), 0)
    return itertools.cycle(people[start:] + people[:start])


def assign(actor, lead_id, member_id="round_robin", now=None, tell=True):
    """Give a lead an owner (a member id, or "round_robin"); returns the member.

    lead.assigned tells the new owner (services/chat/lead_alerts.py) unless `tell` is
    False (a rule that sends them its own message); the timeline shows it from the
    audit log (services/crm/activities.py: timeline).
    """
    if not actor.assigns and not _owns(actor, lead_id):
        raise AccessDenied(messages.ONLY_DISPATCHERS_ASSIGN)
    return _hand_to(actor, lead_id, member_id, now or utcnow(), tell)


def _owns(actor, lead_id):
    """An owner may give their own lead to someone else (one who asked for it)."""
    return actor.user_id is not None and Lead.select().where(
        Lead.id == lead_id, Lead.owner == actor.user_id).exists()


def request(actor, lead_id, now=None):
    """`actor` asks for someone else's lead: its owner and the dispatchers and admins who
    take notifications are told (lead.requested; services/chat/lead_alerts.py), any of
    whom can give it. Returns who was asked."""
    with db.atomic():
        lead = Lead.get_or_none(Lead.id == lead_id)
        if lead is None:
            raise LookupError(messages.NO_SUCH_LEAD.format(lead_id=lead_id))
        asked = list(User.lead_recipients().where(
            (User.role.in_(SEE_ALL_ROLES) | (User.id == lead.owner_id))
            & (User.id != actor.user_id)))
        if asked:
            events.emit("lead.requested", actor, "lead", lead.id, now=now or utcnow(),
                        lead=lead, asked=asked)
    return asked


def _hand_to(actor, lead_id, member_id, now, tell=True):
    with db.atomic():
        lead = require_lead(actor, lead_id)
        member = round_robin_member() if member_id == "round_robin" else \
            User.get_or_none(User.id == member_id)
        if member is None or not member.is_team:
            raise AccessDenied(messages.NOT_ON_TEAM if member_id != "round_robin"
                               else messages.NOBODY_TO_ASSIGN)
        values = {"owner": member.id, "assigned_at": now}
        Lead.update(values).where(Lead.id == lead.id).execute()
        events.emit("lead.assigned", actor, "lead", lead.id, events.changed(lead, values), now=now,
                    tell=tell)
    return member


def take(actor, lead_id, now=None):
    """`actor` (a member) becomes the owner of a lead nobody owns, such as a client who
    just wrote in. Two people pressing at once: one conditional UPDATE wins. Returns None
    when it is theirs now, else the member who already owns it."""
    now = now or utcnow()
    with db.atomic():
        lead = Lead.get_or_none(Lead.id == lead_id)
        if lead is None:
            raise LookupError(messages.NO_SUCH_LEAD.format(lead_id=lead_id))
        values = {"owner": actor.user_id, "assigned_at": now}
        won = (Lead.update(values)
               .where(Lead.id == lead_id, Lead.owner.is_null()).execute())
        if not won:
            return Lead.select(Lead.owner).where(Lead.id == lead_id).get().owner
        events.emit("lead.assigned", actor, "lead", lead.id, events.changed(lead, values), now=now)
    return None


def clean_details(raw):
    """Pipeline details from a form or chat, validated: source, business_domain, priority, value."""
    values = {}
    if "source" in raw:
        source = str(raw["source"] or "").strip().casefold()
        if source not in SOURCES:
            raise ValueError(messages.BAD_SOURCE.format(choices=", ".join(SOURCES)))
        values["source"] = source
    if "priority" in raw:
        priority = str(raw["priority"] or "").strip().casefold()
        if priority not in PRIORITIES:
            raise ValueError(messages.BAD_PRIORITY.format(choices=", ".join(PRIORITIES)))
        values["priority"] = priority
    if "business_domain" in raw:
        domain = " ".join(plain_text(str(raw["business_domain"] or "")).split())
        if len(domain) > MAX_DOMAIN:
            raise ValueError(messages.DOMAIN_TOO_LONG.format(limit=MAX_DOMAIN))
        values["business_domain"] = domain or None
    if "value" in raw:
        try:
            value = decimal.Decimal(str(raw["value"] or "0").replace(",", "").strip())
        except decimal.InvalidOperation:
            raise ValueError(messages.BAD_VALUE.format(typed=raw["value"])) from None
        if not value.is_finite() or not 0 <= value <= MAX_VALUE:
            raise ValueError(messages.VALUE_OUT_OF_RANGE)
        values["value"] = value.quantize(decimal.Decimal("0.01"))
    return values


def set_details(actor, lead_id, **raw):
    """Change source, business domain, priority or value; returns the lead."""
    values = clean_details(raw)
    with db.atomic():
        lead = require_lead(actor, lead_id)
        changes = events.changed(lead, values)
        if changes:
            Lead.update(**values).where(Lead.id == lead.id).execute()
            events.emit("lead.updated", actor, "lead", lead.id, changes)
    return Lead.get_by_id(lead.id)


def stage_totals(leads=None):
    """[(pipeline, stage, leads, total value)] of `leads` (a Lead query, e.g. the board's
    filters; default all) in one grouped query, every stage listed."""
    rows = {}
    for stage, sales_stage, count, value in (
            (Lead.select() if leads is None else leads)
            .select(Lead.stage, Lead.sales_stage, fn.COUNT(Lead.id), fn.SUM(Lead.value))
            .group_by(Lead.stage, Lead.sales_stage).tuples()):
        key = ("sales", sales_stage) if stage == "transferred" and sales_stage else ("lead", stage)
        seen = rows.get(key, (0, decimal.Decimal(0)))
        rows[key] = (seen[0] + count, seen[1] + decimal.Decimal(str(value or 0)))
    ordered = [("lead", s) for s in LEAD_STAGES if s != "transferred"] + \
              [("sales", s) for s in SALES_FLOW]
    return [(p, s) + rows.get((p, s), (0, decimal.Decimal(0))) for p, s in ordered]
