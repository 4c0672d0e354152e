"""Follow-up rules: what they may say and how they are checked.

A rule names an event, a list of conditions and a list of actions, stored as JSON
(services/followups/rule_lines.py reads and writes them as the lines people type).
`check_*` normalises the stored form and refuses anything unknown, naming every
problem (RuleError.problems). What may be said (events,
fields, operators, actions, templates) is services/followups/vocabulary.py. Nothing
here touches the database: services/followups/matching.py evaluates rules, services/followups/automation.py loads
them and runs their actions.
"""
from dataclasses import dataclass

from models import LEAD_STAGES, SALES_STAGES
from services.core.inputs import MAX_ID, parse_bounded_int, parse_id, parse_number, plain_text
from services.followups.vocabulary import (
    ACTIONS,
    ACTIVITY_ASSIGNEES,
    ASSIGN_TARGETS,
    EVENTS,
    FIELDS,
    MAX_ACTIONS,
    MAX_CONDITIONS,
    MAX_DELAY_MINUTES,
    MAX_NUMBER,
    MAX_PRIORITY,
    MAX_SUBJECT,
    MIN_PRIORITY,
    OPERATORS,
    RECIPIENTS,
    RULE_ACTIVITY_TYPES,
    TEMPLATES,
)
from services.inbox import templates


class RuleError(ValueError):
    """A rule that cannot be saved; the message says which line and why, and
    `field` which part of the rule (name, event, priority, conditions, actions)."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field

    @property
    def problems(self):
        """Every problem found (see RuleProblems): here just this one."""
        return [self]


class RuleProblems(RuleError):
    """Several problems at once, in the order of the editor's fields: the message is
    all of them, one a line; `field` is the first one's."""

    def __init__(self, problems):
        super().__init__("\n".join(map(str, problems)), problems[0].field)
        self._problems = problems

    @property
    def problems(self):
        return self._problems


def gather(problems, field, check, *args):
    """`check(*args)`, or None with its problems added to `problems`, tagged with the
    part of the rule they are about (`field`, unless they name one)."""
    try:
        return check(*args)
    except RuleError as exc:
        problems.extend(RuleError(str(p), p.field or field) for p in exc.problems)
        return None


def refuse(problems):
    """Raise the problems found, if any: people fix them all in one go."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RuleProblems(problems)


def _each(items, check):
    """[check(item, n) for each item, numbered from 1], naming every item that fails."""
    problems = []
    checked = [gather(problems, None, check, item, n) for n, item in enumerate(items, 1)]
    refuse(problems)
    return checked


@dataclass
class Rule:
    id: int
    name: str
    event: str
    conditions: list
    actions: list
    priority: int = 100
    active: bool = True


# Checking -------------------------------------------------------------------

def _member_id(raw):
    """The id in "member:12" (as typed) or 12 (as stored), else None."""
    if isinstance(raw, str):
        return parse_id(raw[7:]) if raw.startswith("member:") else None
    return parse_id(raw)


def _one_value(name, spec, raw, where):
    """`raw` (text or JSON value) as the value the field holds, or RuleError."""
    if spec.kind == "number":
        number = parse_number(raw, MAX_NUMBER)
        if number is None:
            raise RuleError(f"{where}: {name} is a number, got {raw!r}. Write it with the "
                            f"digits 0-9, between -{MAX_NUMBER:,} and {MAX_NUMBER:,}.")
        return number
    if spec.kind == "member":
        raw = raw.strip() if isinstance(raw, str) else raw  # "member:1, member:2" splits with spaces
        member = _member_id(raw) or parse_id(raw)  # "member:12", or a bare 12
        if member is None:
            raise RuleError(f"{where}: {name} takes a member id like member:12, got {raw!r}.")
        return member
    if not isinstance(raw, str) or not raw.strip():
        raise RuleError(f"{where}: {name} needs a value.")
    value = raw.strip()
    if spec.kind == "choice":
        value = value.casefold()
        if value not in spec.choices:
            raise RuleError(f"{where}: {value!r} is not a {name}; one of: {', '.join(spec.choices)}.")
    return value


def check_condition(condition, event, where="Condition"):
    """A condition dict in stored form, normalised; RuleError if it cannot work."""
    if not isinstance(condition, dict):
        raise RuleError(f"{where}: expected field, operator and value.")
    name = str(condition.get("field", "")).strip().casefold()
    operator = str(condition.get("operator", "")).strip().casefold()
    spec = FIELDS.get(name)
    if spec is None:
        raise RuleError(f"{where}: unknown field {name!r}. Fields for {event}: "
                        f"{', '.join(fields_for(event))}.")
    if event not in spec.events:
        raise RuleError(f"{where}: {name} is only known for "
                        f"{', '.join(sorted(spec.events))} events, not {event}.")
    if operator not in OPERATORS:
        raise RuleError(f"{where}: unknown operator {operator!r}. Operators: "
                        f"{', '.join(OPERATORS)}.")
    kinds, arity = OPERATORS[operator]
    if spec.kind not in kinds.split():
        usable = [op for op, (k, _) in OPERATORS.items() if spec.kind in k.split()]
        raise RuleError(f"{where}: {operator} does not work on {name} ({spec.kind}); "
                        f"use one of: {', '.join(usable)}.")
    checked = {"field": name, "operator": operator}
    raw = condition.get("value")
    if arity == "one":
        checked["value"] = _one_value(name, spec, raw, where)
    elif arity == "list":
        items = raw if isinstance(raw, list) else str(raw or "").split(",")
        values = [_one_value(name, spec, item, where) for item in items
                  if not (isinstance(item, str) and not item.strip())]
        if not values:
            raise RuleError(f"{where}: {operator} needs at least one value, separated by commas.")
        checked["value"] = values
    elif raw not in (None, "", []):
        raise RuleError(f"{where}: {operator} takes no value; remove {raw!r}.")
    return checked


def _delay(raw, where):
    minutes = parse_bounded_int(raw, 0, MAX_DELAY_MINUTES)
    if minutes is None:
        raise RuleError(f"{where}: the delay must be between 0 and 366 days.")
    return minutes


def _target(raw, allowed, where, what):
    if isinstance(raw, str) and raw.strip().casefold() in allowed:
        return raw.strip().casefold()
    member = _member_id(raw)
    if member is None:
        raise RuleError(f"{where}: {what} must be {', '.join(allowed)} or member:<id>, got {raw!r}.")
    return member


def check_action(action, where="Action"):
    """An action dict in stored form, normalised; RuleError if it cannot work."""
    if not isinstance(action, dict):
        raise RuleError(f"{where}: expected an action.")
    kind = str(action.get("type", "")).strip().casefold()
    if kind not in ACTIONS:
        raise RuleError(f"{where}: unknown action {kind!r}. Actions: {', '.join(ACTIONS)}.")
    checked = {"type": kind, "delay_minutes": _delay(action.get("delay_minutes", 0), where)}
    if kind == "create_activity":
        activity_type = str(action.get("activity_type", "")).casefold()
        if activity_type not in RULE_ACTIVITY_TYPES:
            raise RuleError(f"{where}: unknown activity type {activity_type!r}; one of: "
                            f"{', '.join(RULE_ACTIVITY_TYPES)}.")
        subject = " ".join(plain_text(str(action.get("subject") or "")).split())
        if not subject:
            raise RuleError(f'{where}: the activity needs a subject in quotes, e.g. "Call back".')
        if len(subject) > MAX_SUBJECT:
            raise RuleError(f"{where}: the subject is {len(subject)} characters; "
                            f"at most {MAX_SUBJECT}.")
        checked.update(activity_type=activity_type, subject=subject,
                       assign_to=_target(action.get("assign_to", "lead_owner"),
                                         ACTIVITY_ASSIGNEES, where, "assign"))
    elif kind == "send_notification":
        template = str(action.get("template", "")).casefold()
        if template not in TEMPLATES:
            raise RuleError(f"{where}: unknown template {template!r}; one of: "
                            f"{', '.join(TEMPLATES)}.")
        checked.update(template=template,
                       to=_target(action.get("to", "lead_owner"), RECIPIENTS, where, "to"))
    elif kind == "send_template":
        name = str(action.get("template", "")).strip().casefold()
        if templates.get(name) is None:
            names = ", ".join(t.name for t in templates.all()) or "none yet"
            raise RuleError(f"{where}: there is no message template {name!r}; the templates "
                            f"are: {names}.")
        if str(action.get("to", "client")).strip().casefold() != "client":
            raise RuleError(f"{where}: a message template goes to the client: write "
                            f"{ACTIONS[kind]}.")
        checked.update(template=name, to="client")
    elif kind == "update_stage":
        pipeline = str(action.get("pipeline", "")).casefold()
        stages = {"lead": LEAD_STAGES, "sales": SALES_STAGES}.get(pipeline)
        if stages is None:
            raise RuleError(f"{where}: update_stage needs the pipeline first: lead or sales.")
        stage = str(action.get("stage", "")).casefold()
        if stage not in stages:
            raise RuleError(f"{where}: {stage!r} is not a {pipeline} stage; one of: "
                            f"{', '.join(stages)}.")
        checked.update(pipeline=pipeline, stage=stage)
    else:
        checked["to"] = _target(action.get("to"), ASSIGN_TARGETS, where, "assign")
    return checked


def check_rule(name, event, conditions, actions, priority=100):
    """The rule's parts normalised: (name, event, conditions, actions, priority); else
    RuleError naming every problem (its `problems`)."""
    return checked_rule(
        name, event, priority,
        lambda: _each(few_conditions(conditions),
                      lambda condition, n: check_condition(condition, event, f"Condition {n}")),
        lambda: _each(some_actions(actions), lambda action, n: check_action(action, f"Action {n}")))


def checked_rule(name, event, priority, conditions, actions):
    """check_rule and rule_lines.read_rule: `conditions()` and `actions()` read those parts. Every
    part is checked, problems in the editor's order; the conditions only for a known
    event (it decides which fields they may use)."""
    problems = []
    name = gather(problems, "name", _check_name, name)
    known = gather(problems, "event", _check_event, event)
    priority = gather(problems, "priority", _check_priority, priority)
    conditions = gather(problems, "conditions", conditions) if known else None
    actions = gather(problems, "actions", actions)
    refuse(problems)
    return name, event, conditions, actions, priority


def _check_name(name):
    name = " ".join(plain_text(str(name or "")).split())
    if not name:
        raise RuleError("The rule needs a name.")
    if len(name) > 100:
        raise RuleError("The name is too long (at most 100 characters).")
    return name


def _check_event(event):
    if event not in EVENTS:
        raise RuleError(f"Unknown event {event!r}. Events: {', '.join(EVENTS)}.")
    return True


def _check_priority(priority):
    priority = parse_bounded_int(priority, -MAX_ID, MAX_ID)
    if priority is None:
        raise RuleError("Priority must be a whole number (smaller runs first).")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise RuleError(f"Priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}.")
    return priority


def few_conditions(conditions):
    if len(conditions) > MAX_CONDITIONS:
        raise RuleError(f"At most {MAX_CONDITIONS} conditions.")
    return conditions


def some_actions(actions):
    if not actions:
        raise RuleError("The rule needs at least one action.")
    if len(actions) > MAX_ACTIONS:
        raise RuleError(f"At most {MAX_ACTIONS} actions.")
    return actions


def sample_value(name, raw):
    """A test-mode sample typed as text, as the field would hold it."""
    return _one_value(name, FIELDS[name], raw, f"Sample {name}")


def fields_for(event):
    return [name for name, spec in FIELDS.items() if event in spec.events]
