"""The follow-up rules engine: events in, actions out (seed 003).

The engine subscribes to the rule events (`register`); the services emit them
inside the transaction that caused them (services/core/events.py). Which rules
match is decided once, on the lead as the event left it; each of their actions
becomes a RuleAction row, run at once when it has no delay, else by the scheduler
(`run_due`) when it comes due. The actions without a delay run in this order, each
seeing the lead as the ones before left it:
  1. every matching rule's `assign` actions, in rule priority order (smaller first,
     then by id): they decide whom everything else is for;
  2. all the other actions, in rule priority order, each rule's in the order written.
So an urgent lead a referral rule assigns gets its "call now" activity assigned to,
and its team notification naming, the new owner. Activities a rule creates for a
lead nobody owns yet follow the owner it gets (`follow_owner`). A due
action first checks its rule's conditions again, so a follow-up that no longer makes
sense cancels itself and says why. Claiming a row and doing its work share one
transaction, so an action runs once even with two schedulers.
Events caused by rules carry a depth; past MAX_DEPTH they trigger nothing, so
rules cannot loop.
"""
import datetime
import json
import logging
import uuid

from models import Activity, FollowUpRule, Lead, RuleAction, User, db, utcnow
from services.core import events
from services.core.actors import Actor
from services.crm import pipeline
from services.crm.access import AccessDenied
from services.delivery import outbox
from services.followups import matching, messages, rules, vocabulary
from services.inbox import conversations, sending

log = logging.getLogger("leadgram.automation")
MAX_DEPTH = 3
PENDING, DONE, CANCELLED, FAILED = "pending", "done", "cancelled", "failed"
STATUSES = (PENDING, DONE, CANCELLED, FAILED)
DUE_BATCH = 200


def to_rule(row):
    return rules.Rule(id=row.id, name=row.name, event=row.event,
                      conditions=json.loads(row.conditions), actions=json.loads(row.actions),
                      priority=row.priority, active=row.active)


def active_rules(event):
    query = (FollowUpRule.select().where(FollowUpRule.event == event, FollowUpRule.active == True)  # noqa: E712
             .order_by(FollowUpRule.priority, FollowUpRule.id))
    return [to_rule(row) for row in query]


def context(lead, fields=None, event_at=None, now=None):
    """What conditions can look at: the lead as it is now, plus the event's own fields."""
    now = now or utcnow()
    score = pipeline.latest_score(lead.id)
    values = {
        "source": lead.source, "stage": lead.stage, "sales_stage": lead.sales_stage,
        "priority": lead.priority, "business_domain": lead.business_domain,
        "country": lead.country, "value": float(lead.value or 0),
        "score": score.score if score else None,
        "days_since_created": round((now - lead.created_at).total_seconds() / 86400, 2),
        "owner": lead.owner_id,
        "activities_done_since_event": 0,
        "messages_received_since_event": 0,
    }
    fields = dict(fields or {})
    if event_at is not None and event_at < now:
        since = Activity.select().where(Activity.lead == lead.id,
                                        Activity.completed_at > event_at,
                                        Activity.type != "note")
        if fields.get("activity_id"):
            since = since.where(Activity.id != fields["activity_id"])
        values["activities_done_since_event"] = since.count()
        values["messages_received_since_event"] = conversations.received_since(lead.id, event_at)
    values.update({k: v for k, v in fields.items() if k in vocabulary.FIELDS})
    return values


def register():
    for name in vocabulary.EVENTS:
        events.subscribe(name, on_event)
    events.subscribe("lead.assigned", follow_owner)


def follow_owner(event):
    """lead.assigned: the open activities rules made for the lead while it had nobody
    to give them to become the new owner's, in the same transaction (each audited as
    activity.assigned), so they are on the owner's /today."""
    owner_id = event.changes.get("owner", (None, None))[1]
    if owner_id is None:
        return None
    waiting = Activity.select().where(Activity.lead == event.entity_id,
                                      Activity.rule.is_null(False),
                                      Activity.assigned_to.is_null(),
                                      Activity.completed_at.is_null())
    for activity in waiting:
        values = {"assigned_to": owner_id}
        Activity.update(values).where(Activity.id == activity.id).execute()
        events.emit("activity.assigned", event.actor, "activity", activity.id,
                    events.changed(activity, values), now=event.data.get("now"))
    return None


def on_event(event):
    """A rule event: its data holds the lead, and may hold the event's own fields, the
    depth (events caused by rules) and the clock."""
    return run_rules(event.name, event.data["lead"], event.data.get("fields"),
                     depth=event.data.get("depth", 0), now=event.data.get("now"))


def run_rules(event, lead, fields=None, depth=0, now=None):
    """Run the rules for `event` on `lead`; returns the RuleActions it created."""
    now = now or utcnow()
    if depth > MAX_DEPTH:
        log.warning("%s on lead #%s not passed to rules: %d events in a row were caused by rules "
                    "(limit %d), which looks like a loop", event, lead.id, depth, MAX_DEPTH)
        return []
    candidates = active_rules(event)
    if not candidates:
        return []
    fields = dict(fields or {})
    snapshot = context(lead, fields, now=now)
    event_id = uuid.uuid4().hex
    payload = json.dumps({**fields, "event_at": now.isoformat()}, default=str)
    created, assigning = [], set()
    for rule in matching.matching(candidates, snapshot):
        for index, action in enumerate(rule.actions):
            row = RuleAction.create(
                key=f"{event_id}:{rule.id}:{index}", rule=rule.id, action_index=index,
                action=json.dumps(action), event=event, payload=payload, lead=lead.id,
                depth=depth, due_at=now + datetime.timedelta(minutes=action["delay_minutes"]),
                created_at=now)
            created.append(row)
            if action["type"] == "assign":
                assigning.add(row.id)
    # Every match is decided on the same snapshot before any action changes the lead.
    # The immediate actions then run assigns first (sorted() keeps each group in
    # priority order), as the module docstring says.
    immediate = [row for row in created if row.due_at <= now]
    for row in sorted(immediate, key=lambda row: row.id not in assigning):
        _execute(row, now)
    return created


def run_due(now=None, limit=DUE_BATCH):
    """Run the delayed actions that have come due; returns {status: count}."""
    now = now or utcnow()
    counts = dict.fromkeys(STATUSES[1:], 0)
    due = [row.id for row in RuleAction.select(RuleAction.id)
           .where(RuleAction.status == PENDING, RuleAction.due_at <= now)
           .order_by(RuleAction.due_at, RuleAction.id).limit(limit)]
    for action_id in due:
        with db.atomic():
            # Claim (write) first: SQLite then waits for another scheduler's lock instead of
            # failing with "database is locked" when a read transaction tries to write.
            if not _claim(action_id, now):
                continue  # another scheduler took it
            counts[_execute(RuleAction.get_by_id(action_id), now, recheck=True)] += 1
    return counts


def _claim(action_id, now):
    return (RuleAction.update(status=DONE, executed_at=now)
            .where(RuleAction.id == action_id, RuleAction.status == PENDING).execute())


def _execute(row, now, recheck=False):
    """Run one action (in the caller's transaction) and record what happened."""
    rule_row = FollowUpRule.get_or_none(FollowUpRule.id == row.rule_id)
    lead = Lead.get_or_none(Lead.id == row.lead_id)
    status, result = DONE, ""
    if rule_row is None or lead is None:
        status, result = CANCELLED, "cancelled: the rule or the lead no longer exists"
    elif recheck and not rule_row.active:
        status, result = CANCELLED, "cancelled: the rule was turned off"
    elif recheck:
        payload = json.loads(row.payload)
        event_at = datetime.datetime.fromisoformat(payload.pop("event_at"))
        rule = to_rule(rule_row)
        failed = [line for line, value, ok in
                  matching.explain(rule, context(lead, payload, event_at, now)).conditions if not ok]
        if failed:
            status = CANCELLED
            result = "cancelled: no longer holds: " + "; ".join(failed)
    if status == DONE:
        try:
            with db.atomic():  # a failing action undoes only its own writes
                result = _run(row, json.loads(row.action), rule_row, lead, now)
        except sending.OptedOut as exc:   # the client asked for none: not a failure
            status, result = CANCELLED, f"skipped: {exc}"
        except (rules.RuleError, AccessDenied, LookupError, ValueError) as exc:
            status, result = FAILED, f"failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - recorded, and the rest go on
            log.exception("rule action %s failed", row.id)
            status, result = FAILED, f"failed: {type(exc).__name__}: {exc}"
    (RuleAction.update(status=status, result=result[:2000], executed_at=now)
     .where(RuleAction.id == row.id).execute())
    rule_name = rule_row.name if rule_row else f"#{row.rule_id}"
    log.info("rule “%s” on lead #%s: %s", rule_name, row.lead_id, result)
    row.status, row.result = status, result
    return status


def _member(member_id):
    return User.get_or_none(User.id == member_id, User.role.is_null(False))


def _run(row, action, rule_row, lead, now):
    actor = Actor.rule(rule_row)
    kind = action["type"]
    if kind == "create_activity":
        target = action["assign_to"]
        if target == "lead_owner":
            assignee = lead.owner if lead.owner_id else None
        elif target == "round_robin":
            assignee = pipeline.round_robin_member()
        else:
            assignee = _member(target)
        activity = Activity.create(lead=lead, type=action["activity_type"],
                                   subject=action["subject"], assigned_to=assignee,
                                   rule=rule_row, scheduled_at=now, due_at=now, created_at=now)
        events.emit("activity.created", actor, "activity", activity.id, events.created(activity),
                    now=now)
        if assignee is not None:
            outbox.enqueue(f"rule-action:{row.id}:activity", assignee,
                           messages.new_follow_up(activity, lead))
        who = assignee.display_name if assignee else "nobody (the lead has no owner)"
        return f"created activity #{activity.id} “{activity.subject}” for {who}"
    if kind == "send_notification":
        recipients = _recipients(action["to"], lead)
        text = messages.rendered(action["template"], lead)
        for member in recipients:
            outbox.enqueue(f"rule-action:{row.id}:to:{member.id}", member, text)
        return f"notified {len(recipients)} member(s) with {action['template']}"
    if kind == "update_stage":
        if pipeline.pipeline_of(lead) != action["pipeline"]:
            raise ValueError(f"lead #{lead.id} is in the {pipeline.pipeline_of(lead)} pipeline, "
                             f"not {action['pipeline']}")
        change = pipeline.change_stage(actor, lead.id, action["stage"], now=now, depth=row.depth + 1)
        return f"moved lead #{lead.id} from {change.from_stage} to {change.to_stage}"
    if kind == "send_template":
        conversation = conversations.open_for(lead, now)
        message = sending.send_template(actor, conversation.id, action["template"], now=now)
        return f"sent template {action['template']} to the client (message #{message.id})"
    target = action["to"]
    if target == "round_robin_if_unowned" and lead.owner_id:
        return f"kept owner {lead.owner.display_name}"
    member = pipeline.assign(actor, lead.id, target if isinstance(target, int) else "round_robin",
                             now=now, tell=not _tells_owner_at_once(rule_row))
    return f"assigned lead #{lead.id} to {member.display_name}"


def _tells_owner_at_once(rule_row):
    """A rule that assigns and at once sends the owner its own message (the referral
    rule's "…is yours: call them") gives them that one message, not two."""
    return any(action["type"] == "send_notification" and action["to"] == "lead_owner"
               and action["delay_minutes"] == 0 for action in json.loads(rule_row.actions))


def _recipients(to, lead):
    if to == "lead_owner":
        return [lead.owner] if lead.owner_id and lead.owner.is_team else []
    if to == "team":
        return list(User.lead_recipients())
    if to == "admins":
        return list(User.lead_recipients().where(User.role == "admin"))
    member = _member(to)
    return [member] if member else []


def test_rule(rule, lead=None, sample=None, event_fields=None, now=None):
    """Test mode: which conditions hold and which actions would run, running nothing.

    Give a real `lead`, or a `sample` of field values (text, as typed in a form).
    """
    now = now or utcnow()
    values = context(lead, now=now) if lead is not None else {name: None for name in vocabulary.FIELDS}
    for name, raw in {**(sample or {}), **(event_fields or {})}.items():
        if name not in vocabulary.FIELDS or raw in (None, ""):
            continue
        values[name] = rules.sample_value(name, raw)
    return matching.explain(rule, values)
