"""Evaluating follow-up rules: does each condition hold for an event's context, which
rules match, and (test mode) why. Pure: services/followups/automation.py builds the context."""
from dataclasses import dataclass, field

from services.followups.rule_lines import format_action, format_condition


def _fold(value):
    return value.casefold() if isinstance(value, str) else value


def holds(condition, context):
    """Does `condition` hold for `context` (field -> value, None when unknown)?"""
    actual = _fold(context.get(condition["field"]))
    operator = condition["operator"]
    if operator == "is_present":
        return actual not in (None, "")
    if operator == "is_not_present":
        return actual in (None, "")
    expected = condition.get("value")
    if operator in ("in", "not_in"):
        found = actual is not None and actual in [_fold(v) for v in expected]
        return found if operator == "in" else not found
    expected = _fold(expected)
    if operator == "equals":
        return actual is not None and actual == expected
    if operator == "not_equals":
        return actual is None or actual != expected
    if actual is None:
        return False
    if operator == "contains":
        return str(expected) in str(actual)
    if operator == "greater_than":
        return actual > expected
    return actual < expected  # less_than


def matches(rule, context):
    return all(holds(condition, context) for condition in rule.conditions)


def matching(rules, context):
    """The rules whose conditions all hold, in the order they run (priority, then id)."""
    return [rule for rule in sorted(rules, key=lambda r: (r.priority, r.id))
            if rule.active and matches(rule, context)]


@dataclass
class Explanation:
    """Test mode: how each condition came out, and what would run."""
    conditions: list = field(default_factory=list)  # (line, actual value, holds)
    actions: list = field(default_factory=list)     # (line, delay in minutes)

    @property
    def matched(self):
        return all(ok for _, _, ok in self.conditions)


def explain(rule, context):
    explanation = Explanation()
    for condition in rule.conditions:
        explanation.conditions.append((format_condition(condition),
                                       context.get(condition["field"]),
                                       holds(condition, context)))
    if explanation.matched:
        explanation.actions = [(format_action(a), a.get("delay_minutes", 0))
                               for a in rule.actions]
    return explanation
