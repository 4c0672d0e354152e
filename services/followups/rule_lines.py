"""Follow-up rules as people type them, one line each, and back:

    source equals website
    stage not_in lost, transferred
    create_activity call "Call new website lead" assign lead_owner after 1h
    send_notification deal_won to team

`parse_*` turns lines into the stored form, checked by services/followups/rules.py, and
refuses anything unknown naming every wrong line; `format_*` turns it back; `read_rule`
reads a whole rule as the panel's editor has it.
"""
import re
import shlex

from services.core.inputs import plain_text
from services.followups.rules import (
    RuleError,
    check_action,
    check_condition,
    checked_rule,
    few_conditions,
    gather,
    refuse,
    some_actions,
)
from services.followups.vocabulary import ACTIONS

_DELAY = re.compile(r"^([0-9]{1,6})([mhd])$")
_UNITS = {"m": 1, "h": 60, "d": 1440}


def read_rule(name, event, conditions_text, actions_text, priority=100):
    """A rule as the editor has it (conditions and actions typed one per line), checked
    as check_rule does, each wrong line its own problem."""
    return checked_rule(name, event, priority,
                         lambda: few_conditions(parse_conditions(conditions_text, event)),
                         lambda: some_actions(parse_actions(actions_text)))


def _split(line, where):
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise RuleError(f"{where}: {exc} (quote the subject with \"…\").") from None


def _lines(text):
    """(line number, line) for every line that is not blank or a # comment."""
    for number, line in enumerate(plain_text(text or "").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line.strip()


def parse_conditions(text, event):
    """Conditions typed one per line, checked; RuleError naming every wrong line."""
    return _parse_lines(text, "conditions", lambda number, line: _parse_condition(number, line, event))


def parse_actions(text):
    """Actions typed one per line, checked; RuleError naming every wrong line."""
    return _parse_lines(text, "actions", _parse_action)


def _parse_lines(text, field, parse):
    problems = []
    parsed = [gather(problems, field, parse, number, line) for number, line in _lines(text)]
    refuse(problems)
    return parsed


def _parse_condition(number, line, event):
    name, _, rest = line.partition(" ")
    operator, _, value = rest.strip().partition(" ")
    condition = {"field": name, "operator": operator}
    if value.strip():
        condition["value"] = value.strip()
    return check_condition(condition, event, f"Condition line {number}")


def parse_delay(text, where):
    match = _DELAY.match(text.strip().casefold())
    if not match:
        raise RuleError(f"{where}: write the delay like 30m, 1h or 2d, got {text!r}.")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _parse_action(number, line):
    where = f"Action line {number}"
    words = _split(line, where)
    action = {"type": words[0].casefold()}
    words = words[1:]
    if len(words) >= 2 and words[-2].casefold() == "after":
        action["delay_minutes"] = parse_delay(words[-1], where)
        words = words[:-2]
    kind = action["type"]
    options = {}
    if kind in ("create_activity", "send_notification", "send_template") and len(words) >= 2 \
            and words[-2].casefold() in ("assign", "to"):
        options[words[-2].casefold()] = words[-1]
        words = words[:-2]
    if kind == "create_activity":
        if len(words) != 2:
            raise RuleError(f"{where}: write {ACTIONS[kind]} [after 1h].")
        action.update(activity_type=words[0], subject=words[1],
                      assign_to=options.get("assign", "lead_owner"))
    elif kind == "send_notification":
        if len(words) != 1:
            raise RuleError(f"{where}: write {ACTIONS[kind]} [after 1h].")
        action.update(template=words[0], to=options.get("to", "lead_owner"))
    elif kind == "send_template":
        if len(words) != 1:
            raise RuleError(f"{where}: write {ACTIONS[kind]} [after 2d].")
        action.update(template=words[0], to=options.get("to", "client"))
    elif kind == "update_stage":
        if len(words) != 2:
            raise RuleError(f"{where}: write {ACTIONS[kind]} [after 1h].")
        action.update(pipeline=words[0], stage=words[1])
    elif kind == "assign":
        if len(words) != 1:
            raise RuleError(f"{where}: write {ACTIONS[kind]} [after 1h].")
        action["to"] = words[0]
    return check_action(action, where)


def format_delay(minutes):
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes and minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _target_text(value):
    return f"member:{value}" if isinstance(value, int) else value


def _quoted(text):
    """`text` in double quotes as shlex reads them back: only \\ and \" are escapes there
    (json.dumps would also write \\u0001 and the like, which shlex keeps literally)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_condition(condition):
    value = condition.get("value")
    if isinstance(value, list):
        value = ", ".join(str(_target_text(v)) if condition["field"] == "owner" else str(v)
                          for v in value)
    elif condition["field"] == "owner" and value is not None:
        value = _target_text(value)
    return " ".join(str(p) for p in (condition["field"], condition["operator"], value)
                    if p is not None)


def format_action(action):
    kind = action["type"]
    if kind == "create_activity":
        words = [kind, action["activity_type"], _quoted(action["subject"]),
                 "assign", str(_target_text(action["assign_to"]))]
    elif kind in ("send_notification", "send_template"):
        words = [kind, action["template"], "to", str(_target_text(action["to"]))]
    elif kind == "update_stage":
        words = [kind, action["pipeline"], action["stage"]]
    else:
        words = [kind, str(_target_text(action["to"]))]
    if action.get("delay_minutes"):
        words += ["after", format_delay(action["delay_minutes"])]
    return " ".join(words)


def format_conditions(conditions):
    return "\n".join(format_condition(c) for c in conditions)


def format_actions(actions):
    return "\n".join(format_action(a) for a in actions)
