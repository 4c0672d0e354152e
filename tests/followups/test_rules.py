"""Follow-up rules as people write them: operators, lines <-> stored form, validation."""
import pytest
from hypothesis import given, settings, strategies as st

from models import LEAD_STAGES, SALES_STAGES
from services.followups import matching as rule_matching, rule_lines, rules, vocabulary
from services.followups.defaults import DEFAULT_RULES
from services.followups.rules import RuleError


def cond(field, operator, value=None, event="lead.created"):
    raw = {"field": field, "operator": operator}
    if value is not None:
        raw["value"] = value
    return rules.check_condition(raw, event)


def holds(field, operator, value, actual):
    return rule_matching.holds(cond(field, operator, value), {field: actual})


# Operators ----------------------------------------------------------------------------

def test_equals_and_not_equals_ignore_case_and_treat_missing_as_different():
    assert holds("source", "equals", "Website", "website")
    assert holds("business_domain", "equals", "fintech", "FinTech")
    assert not holds("business_domain", "equals", "fintech", "insurtech")
    assert not holds("business_domain", "equals", "fintech", None)
    assert holds("value", "equals", "1500", 1500.0)
    assert holds("owner", "equals", "member:7", 7)
    assert not holds("owner", "equals", "member:7", 8)
    assert holds("business_domain", "not_equals", "fintech", "retail")
    assert not holds("business_domain", "not_equals", "FINTECH", "fintech")
    assert holds("business_domain", "not_equals", "fintech", None)


def test_contains_is_a_case_insensitive_substring_and_false_when_missing():
    assert holds("business_domain", "contains", "Tech", "fintech")
    assert holds("country", "contains", "u", "US")
    assert not holds("business_domain", "contains", "bank", "fintech")
    assert not holds("business_domain", "contains", "tech", None)


def test_greater_and_less_than_compare_numbers_and_are_false_when_missing():
    assert holds("value", "greater_than", "1000", 1000.5)
    assert not holds("value", "greater_than", "1000", 1000)
    assert holds("score", "less_than", "0.6", 0.59)
    assert not holds("score", "less_than", "0.6", 0.6)
    assert not holds("score", "less_than", "0.6", None)
    assert not holds("score", "greater_than", "0.6", None)
    assert holds("days_since_created", "greater_than", "-1", 0)


def test_in_and_not_in_take_lists_ignore_case_and_missing_is_not_in():
    assert holds("stage", "in", "new, Contacted", "contacted")
    assert not holds("stage", "in", "new, contacted", "lost")
    assert holds("business_domain", "in", ["Retail", "FinTech"], "fintech")
    assert holds("owner", "in", "member:1, member:2", 2)
    assert not holds("stage", "in", "new", None)
    assert holds("stage", "not_in", "lost, transferred", "new")
    assert not holds("stage", "not_in", "lost, transferred", "lost")
    assert holds("stage", "not_in", "lost", None)


def test_is_present_and_is_not_present_count_empty_text_as_missing_but_not_zero():
    assert holds("business_domain", "is_present", None, "fintech")
    assert not holds("business_domain", "is_present", None, "")
    assert not holds("business_domain", "is_present", None, None)
    assert holds("value", "is_present", None, 0)
    assert holds("business_domain", "is_not_present", None, "")
    assert holds("owner", "is_not_present", None, None)
    assert not holds("owner", "is_not_present", None, 3)


def test_a_rule_matches_only_when_every_condition_holds_and_no_conditions_always_match():
    rule = rules.Rule(1, "r", "lead.created", [cond("source", "equals", "website"),
                                               cond("priority", "in", "high, urgent")], [])
    assert rule_matching.matches(rule, {"source": "website", "priority": "urgent"})
    assert not rule_matching.matches(rule, {"source": "website", "priority": "low"})
    assert rule_matching.matches(rules.Rule(2, "always", "lead.created", [], []), {})


def test_matching_runs_smaller_priority_first_ties_by_id_and_skips_inactive():
    make = lambda id, priority, active=True: rules.Rule(  # noqa: E731
        id, f"r{id}", "lead.created", [], [], priority, active)
    found = rule_matching.matching([make(5, 10), make(2, 50), make(3, 10), make(1, -1),
                            make(4, 0, active=False)], {})
    assert [r.id for r in found] == [1, 3, 5, 2]


def test_explain_shows_each_condition_with_its_actual_value_and_actions_only_when_matched():
    rule = rules.Rule(1, "r", "lead.created", rule_lines.parse_conditions(
        "source equals website\nscore greater_than 0.5", "lead.created"),
        rule_lines.parse_actions('create_activity call "Call" after 1h'))
    shown = rule_matching.explain(rule, {"source": "website", "score": 0.4})
    assert shown.conditions == [("source equals website", "website", True),
                                ("score greater_than 0.5", 0.4, False)]
    assert not shown.matched and shown.actions == []
    shown = rule_matching.explain(rule, {"source": "website", "score": 0.7})
    assert shown.matched
    assert shown.actions == [('create_activity call "Call" assign lead_owner after 1h', 60)]


def test_sample_values_are_typed_like_the_field():
    assert rules.sample_value("score", "0.7") == 0.7
    assert rules.sample_value("source", " Website ") == "website"
    assert rules.sample_value("owner", "member:4") == 4
    with pytest.raises(RuleError, match="Sample score: score is a number"):
        rules.sample_value("score", "high")


# Lines <-> stored form ----------------------------------------------------------------

def test_conditions_parse_from_lines_skipping_blanks_and_comments_and_format_back():
    text = ("# website leads only\n\nsource equals Website\nstage not_in lost, transferred\n"
            "business_domain is_present\nowner in member:3, member:9\nvalue greater_than 1500.5")
    parsed = rule_lines.parse_conditions(text, "lead.created")
    assert parsed == [
        {"field": "source", "operator": "equals", "value": "website"},
        {"field": "stage", "operator": "not_in", "value": ["lost", "transferred"]},
        {"field": "business_domain", "operator": "is_present"},
        {"field": "owner", "operator": "in", "value": [3, 9]},
        {"field": "value", "operator": "greater_than", "value": 1500.5}]
    assert rule_lines.format_conditions(parsed) == (
        "source equals website\nstage not_in lost, transferred\nbusiness_domain is_present\n"
        "owner in member:3, member:9\nvalue greater_than 1500.5")
    assert rule_lines.parse_conditions(rule_lines.format_conditions(parsed), "lead.created") == parsed


def test_actions_parse_from_lines_and_format_back():
    text = ('create_activity call "Call new website lead" assign lead_owner after 1h\n'
            "send_notification deal_won to team\n"
            "update_stage sales kyc after 2d\n"
            "assign member:12\n"
            'create_activity meeting "Kick \\"off\\"" assign round_robin after 90m')
    parsed = rule_lines.parse_actions(text)
    assert parsed == [
        {"type": "create_activity", "delay_minutes": 60, "activity_type": "call",
         "subject": "Call new website lead", "assign_to": "lead_owner"},
        {"type": "send_notification", "delay_minutes": 0, "template": "deal_won", "to": "team"},
        {"type": "update_stage", "delay_minutes": 2880, "pipeline": "sales", "stage": "kyc"},
        {"type": "assign", "delay_minutes": 0, "to": 12},
        {"type": "create_activity", "delay_minutes": 90, "activity_type": "meeting",
         "subject": 'Kick "off"', "assign_to": "round_robin"}]
    assert rule_lines.parse_actions(rule_lines.format_actions(parsed)) == parsed
    assert rule_lines.format_action(parsed[2]) == "update_stage sales kyc after 2d"
    assert rule_lines.parse_actions("send_notification lead_lost")[0]["to"] == "lead_owner"


def _value_for(spec, arity):
    if spec.kind == "choice":
        one = st.sampled_from(spec.choices)
    elif spec.kind == "number":
        one = st.one_of(st.integers(-10**9, 10**9),
                        st.floats(-1e9, 1e9, allow_nan=False).map(lambda x: round(x, 4)))
    elif spec.kind == "member":
        one = st.integers(1, 10**9).map(lambda n: f"member:{n}")
    else:  # free text; a list's items cannot hold the comma that separates them
        one = st.text(st.characters(categories=("L", "N", "P", "S", "Zs"),
                                    exclude_characters="," if arity == "list" else ""),
                      min_size=1, max_size=30).filter(str.strip)
    return st.lists(one, min_size=1, max_size=4) if arity == "list" else one


@st.composite
def events_and_conditions(draw):
    event = draw(st.sampled_from(sorted(vocabulary.EVENTS)))
    conditions = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(rules.fields_for(event)))
        spec = vocabulary.FIELDS[name]
        operator = draw(st.sampled_from([op for op, (kinds, _) in vocabulary.OPERATORS.items()
                                         if spec.kind in kinds.split()]))
        condition = {"field": name, "operator": operator}
        arity = vocabulary.OPERATORS[operator][1]
        if arity != "none":
            condition["value"] = draw(_value_for(spec, arity))
        conditions.append(condition)
    return event, conditions


@given(events_and_conditions())
@settings(max_examples=300, deadline=None)
def test_any_valid_conditions_survive_format_and_parse(case):
    event, raw = case
    checked = [rules.check_condition(c, event) for c in raw]
    assert rule_lines.parse_conditions(rule_lines.format_conditions(checked), event) == checked


members = st.integers(1, 10**9)
delays = st.integers(0, vocabulary.MAX_DELAY_MINUTES)
actions = st.one_of(
    st.fixed_dictionaries({
        "type": st.just("create_activity"), "activity_type": st.sampled_from(vocabulary.RULE_ACTIVITY_TYPES),
        "subject": st.text(min_size=1, max_size=80).filter(lambda s: s.replace("\x00", "").strip()),
        "assign_to": st.one_of(st.sampled_from(vocabulary.ACTIVITY_ASSIGNEES), members),
        "delay_minutes": delays}),
    st.fixed_dictionaries({
        "type": st.just("send_notification"), "template": st.sampled_from(sorted(vocabulary.TEMPLATES)),
        "to": st.one_of(st.sampled_from(vocabulary.RECIPIENTS), members), "delay_minutes": delays}),
    st.sampled_from([("lead", s) for s in LEAD_STAGES] + [("sales", s) for s in SALES_STAGES])
    .flatmap(lambda ps: st.fixed_dictionaries({
        "type": st.just("update_stage"), "pipeline": st.just(ps[0]), "stage": st.just(ps[1]),
        "delay_minutes": delays})),
    st.fixed_dictionaries({"type": st.just("assign"),
                           "to": st.one_of(st.sampled_from(vocabulary.ASSIGN_TARGETS), members),
                           "delay_minutes": delays}),
)


@given(st.lists(actions, min_size=1, max_size=5))
@settings(max_examples=300, deadline=None)
def test_any_valid_actions_survive_format_and_parse(raw):
    checked = [rules.check_action(a) for a in raw]
    assert rule_lines.parse_actions(rule_lines.format_actions(checked)) == checked


# Validation: what is refused, and that the message names the line --------------------

@pytest.mark.parametrize("line, event, message", [
    ("colour equals red", "lead.created", "Condition line 3: unknown field 'colour'. Fields for lead.created: source,"),
    ("source like website", "lead.created", "Condition line 3: unknown operator 'like'. Operators: equals,"),
    ("source greater_than 3", "lead.created",
     "Condition line 3: greater_than does not work on source (choice); use one of: equals, not_equals, in,"),
    ("business_domain less_than b", "lead.created",
     "Condition line 3: less_than does not work on business_domain (text)"),
    ("value contains 5", "lead.created", "Condition line 3: contains does not work on value (number)"),
    ("outcome equals no_answer", "lead.created",
     "Condition line 3: outcome is only known for activity.completed events, not lead.created."),
    ("to_stage equals lost", "quote.sent", "Condition line 3: to_stage is only known for lead.stage_changed events"),
    ("days_without_activity greater_than 7", "lead.created",
     "Condition line 3: days_without_activity is only known for lead.stale events, not lead.created."),
    ("source is_present website", "lead.created", "Condition line 3: is_present takes no value; remove 'website'."),
    ("source equals fax", "lead.created", "Condition line 3: 'fax' is not a source; one of: website,"),
    ("value greater_than lots", "lead.created", "Condition line 3: value is a number, got 'lots'."),
    ("value greater_than nan", "lead.created", "Condition line 3: value is a number, got 'nan'."),
    ("value greater_than 1e13", "lead.created", "Condition line 3: value is a number, got '1e13'. "
     "Write it with the digits 0-9, between -1,000,000,000,000 and 1,000,000,000,000."),
    ("value greater_than ٣", "lead.created", "Condition line 3: value is a number, got '٣'."),
    ("owner equals ²", "lead.created", "Condition line 3: owner takes a member id like member:12, got '²'."),
    ("owner in member:1, ٣", "lead.created", "Condition line 3: owner takes a member id like member:12, got '٣'."),
    (f"owner equals member:{2**63}", "lead.created", "Condition line 3: owner takes a member id like"),
    ("owner equals boss", "lead.created", "Condition line 3: owner takes a member id like member:12, got 'boss'."),
    ("business_domain equals", "lead.created", "Condition line 3: business_domain needs a value."),
    ("stage in , ,", "lead.created", "Condition line 3: in needs at least one value, separated by commas."),
])
def test_bad_conditions_are_refused_naming_the_line(line, event, message):
    with pytest.raises(RuleError) as refused:
        rule_lines.parse_conditions(f"# comment\n\n{line}", event)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("line, message", [
    ('send_email "hi"', "Action line 2: unknown action 'send_email'. Actions: create_activity,"),
    ("send_notification birthday to team", "Action line 2: unknown template 'birthday'; one of: deal_won,"),
    ('create_activity lunch "Eat"', "Action line 2: unknown activity type 'lunch'; one of: call,"),
    ('create_activity status_change "Moved"', "Action line 2: unknown activity type 'status_change'"),
    ('create_activity call ""', 'Action line 2: the activity needs a subject in quotes, e.g. "Call back".'),
    (f'create_activity call "{"x" * 201}"', "Action line 2: the subject is 201 characters; at most 200."),
    ('create_activity call "Call back', "Action line 2: No closing quotation (quote the subject"),
    ('create_activity call Call back', "Action line 2: write create_activity <type>"),
    ('create_activity call "Call" assign boss', "Action line 2: assign must be lead_owner, round_robin or member:<id>"),
    ("send_notification deal_won to everyone", "Action line 2: to must be lead_owner, team, admins or member:<id>"),
    ("update_stage lead won", "Action line 2: 'won' is not a lead stage; one of: new, contacted,"),
    ("update_stage sales lost", "Action line 2: 'lost' is not a sales stage; one of: new, kyc,"),
    ("update_stage deal paid", "Action line 2: update_stage needs the pipeline first: lead or sales."),
    ("assign lead_owner", "Action line 2: assign must be round_robin, round_robin_if_unowned or member:<id>"),
    ('create_activity call "Call" after 1w', "Action line 2: write the delay like 30m, 1h or 2d, got '1w'."),
    ('create_activity call "Call" after -1h', "Action line 2: write the delay like 30m, 1h or 2d, got '-1h'."),
    ('create_activity call "Call" after 367d', "Action line 2: the delay must be between 0 and 366 days."),
    ('create_activity call "Call" after ٣d', "Action line 2: write the delay like 30m, 1h or 2d, got '٣d'."),
    ("assign member:²", "Action line 2: assign must be round_robin, round_robin_if_unowned or member:<id>"),
    (f"assign member:{2**63}", "Action line 2: assign must be round_robin"),
    ("send_notification deal_won to member:０", "Action line 2: to must be lead_owner, team, admins"),
])
def test_bad_actions_are_refused_naming_the_line(line, message):
    with pytest.raises(RuleError) as refused:
        rule_lines.parse_actions(f"# first line is a comment\n{line}")
    assert str(refused.value).startswith(message)


def test_stored_actions_with_a_bad_delay_are_refused():
    for delay in (-5, "soon", vocabulary.MAX_DELAY_MINUTES + 1):
        with pytest.raises(RuleError, match="Action: the delay must be"):
            rules.check_action({"type": "assign", "to": "round_robin", "delay_minutes": delay})


@pytest.mark.parametrize("name, event, actions, priority, message", [
    ("  ", "lead.created", [{"type": "assign", "to": "round_robin"}], 1, "The rule needs a name."),
    ("x" * 101, "lead.created", [{"type": "assign", "to": "round_robin"}], 1, "The name is too long"),
    ("r", "lead.deleted", [{"type": "assign", "to": "round_robin"}], 1, "Unknown event 'lead.deleted'."),
    ("r", "lead.created", [], 1, "The rule needs at least one action."),
    ("r", "lead.created", [{"type": "assign", "to": "round_robin"}], "first", "Priority must be a whole number"),
    ("r", "lead.created", [{"type": "assign", "to": "round_robin"}], 5000, "Priority must be between"),
    ("r", "lead.created", [{"type": "assign", "to": "round_robin"}], "٣", "Priority must be a whole number"),
    ("r", "lead.created", [{"type": "assign", "to": "round_robin"}], "²", "Priority must be a whole number"),
    ("r", "lead.created", [{"type": "assign", "to": "round_robin"}, {"type": "nap"}], 1,
     "Action 2: unknown action 'nap'."),
])
def test_check_rule_refuses_bad_rules(name, event, actions, priority, message):
    with pytest.raises(RuleError) as refused:
        rules.check_rule(name, event, [], actions, priority)
    assert str(refused.value).startswith(message)


def test_check_rule_names_the_condition_that_fails():
    with pytest.raises(RuleError, match=r"^Condition 2: unknown field 'mood'"):
        rules.check_rule("r", "lead.created",
                         [{"field": "source", "operator": "equals", "value": "website"},
                          {"field": "mood", "operator": "equals", "value": "happy"}],
                         [{"type": "assign", "to": "round_robin"}])


def test_check_rule_names_every_problem_not_only_the_first():
    with pytest.raises(RuleError) as refused:
        rules.check_rule("", "lead.created",
                         [{"field": "mood", "operator": "equals", "value": "happy"},
                          {"field": "source", "operator": "equals", "value": "website"},
                          {"field": "value", "operator": "greater_than", "value": "lots"}],
                         [{"type": "nap"}, {"type": "assign", "to": "round_robin"}, {"type": "dance"}],
                         "high")
    assert [(p.field, str(p).split(":")[0]) for p in refused.value.problems] == [
        ("name", "The rule needs a name."), ("priority", "Priority must be a whole number (smaller runs first)."),
        ("conditions", "Condition 1"), ("conditions", "Condition 3"),
        ("actions", "Action 1"), ("actions", "Action 3")]
    assert str(refused.value).startswith("The rule needs a name.")


def test_typed_lines_are_read_with_every_wrong_line_named_under_its_part():
    with pytest.raises(RuleError) as refused:
        rule_lines.read_rule("  ", "lead.created",
                        "colour equals red\nsource equals website\n# fine\nvalue greater_than lots",
                        'launch_rocket now\nassign round_robin\ncreate_activity call "x" after 1w',
                        "5000")
    assert [(p.field, str(p).split(":")[0]) for p in refused.value.problems] == [
        ("name", "The rule needs a name."), ("priority", "Priority must be between -1000 and 1000."),
        ("conditions", "Condition line 1"), ("conditions", "Condition line 4"),
        ("actions", "Action line 1"), ("actions", "Action line 3")]
    with pytest.raises(RuleError) as refused:  # lines that all fail are not "no actions"
        rule_lines.read_rule("R", "lead.created", "", "explode\nimplode")
    assert [str(p).split(":")[0] for p in refused.value.problems] == ["Action line 1", "Action line 2"]
    with pytest.raises(RuleError) as refused:  # conditions are not judged against an unknown event
        rule_lines.read_rule("R", "lead.exploded", "outcome equals no_answer", "")
    assert [p.field for p in refused.value.problems] == ["event", "actions"]
    assert rule_lines.read_rule(" R ", "lead.created", "source equals website", "assign round_robin", "7") == (
        "R", "lead.created", [{"field": "source", "operator": "equals", "value": "website"}],
        [{"type": "assign", "delay_minutes": 0, "to": "round_robin"}], 7)


def test_a_single_problem_is_its_own_list():
    with pytest.raises(RuleError) as refused:
        rule_lines.parse_actions("explode")
    assert refused.value.problems == [refused.value]


def test_the_eight_default_rules_are_valid_and_survive_format_and_parse():
    assert len(DEFAULT_RULES) == 8
    for name, _, event, conditions, actions, priority in DEFAULT_RULES:
        checked_name, checked_event, checked_conditions, checked_actions, checked_priority = \
            rules.check_rule(name, event, conditions, actions, priority)
        assert (checked_name, checked_event, checked_priority) == (name, event, priority)
        assert checked_conditions == conditions, name
        assert checked_actions == [{**a, "assign_to": a.get("assign_to", "lead_owner")}
                                   if a["type"] == "create_activity" else a for a in actions], name
        assert rule_lines.parse_conditions(rule_lines.format_conditions(checked_conditions),
                                           event) == checked_conditions
        assert rule_lines.parse_actions(rule_lines.format_actions(checked_actions)) == checked_actions


ACTION = {"type": "send_notification", "template": "deal_won", "to": "team"}


@pytest.mark.parametrize("args, field", [
    (("", "lead.created", [], [ACTION]), "name"),
    (("R", "lead.nope", [], [ACTION]), "event"),
    (("R", "lead.created", [], [ACTION], "high"), "priority"),
    (("R", "lead.created", [{"field": "colour", "operator": "equals", "value": "red"}], [ACTION]),
     "conditions"),
    (("R", "lead.created", [], [{"type": "dance"}]), "actions"),
    (("R", "lead.created", [], []), "actions"),
])
def test_a_refusal_names_the_part_of_the_rule_it_is_about(args, field):
    with pytest.raises(RuleError) as refused:
        rules.check_rule(*args)
    assert refused.value.field == field
    with pytest.raises(RuleError) as refused:
        rule_lines.parse_actions("send_notification nope")
    assert refused.value.field == "actions"
