"""Follow-up rules in the panel: the editor (one condition or action per line, read by
services.followups.rules and saved by services.followups.rulebook, which checks them),
test mode (nothing runs), and the automation log."""
import json

from flask import flash, request, session
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_admin.helpers import is_form_submitted
from flask_admin.model.template import EndpointLinkRowAction
from markupsafe import Markup
from peewee import JOIN
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import NumberInput

from models import FollowUpRule, Lead, RuleAction
from panel.base import IdFilter, PanelModelView, for_each_record, lead_link, panel_actor
from services.core.inputs import parse_id, plain_text
from services.followups import automation, rule_lines, rulebook, rules, vocabulary
from services.followups.rules import RuleError, RuleProblems

MAX_TEXT = 20_000  # far more than 20 conditions or 10 actions need
ADMIN_FAILURES = ("Failed to create record.", "Failed to save record.")  # Flask-Admin's words
ARITY = {"one": "one value", "list": "values separated by commas", "none": "no value"}
# What the form's reference box shows (services.followups.rules is the one source).
REFERENCE = {
    "events": vocabulary.EVENTS,
    "fields": [(name, spec.label, spec.kind, spec.choices if spec.kind == "choice" else (),
                "all" if spec.events == vocabulary.ALL_EVENTS else ", ".join(sorted(spec.events)))
               for name, spec in vocabulary.FIELDS.items()],
    "operators": [(name, kinds.replace(" ", ", "), ARITY[arity])
                  for name, (kinds, arity) in vocabulary.OPERATORS.items()],
    "actions": vocabulary.ACTIONS,
    "templates": vocabulary.TEMPLATES,
}


def readable(text, formatter):
    """Stored JSON as the lines people write; never a server error on a bad row."""
    try:
        return formatter(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"(unreadable: {text[:80]})"


def _lines_cell(formatter, empty=""):
    def cell(view, context, model, name):
        return Markup('<div class="rule-lines">{}</div>').format(
            readable(getattr(model, name), formatter) or empty)
    return cell


def rule_texts(conditions_text, actions_text):
    """The typed lines as plain text, or RuleError for a box too long to read."""
    texts = {"conditions": plain_text(conditions_text or ""), "actions": plain_text(actions_text or "")}
    too_long = [RuleError(f"At most {MAX_TEXT:,} characters.", field)
                for field, text in texts.items() if len(text) > MAX_TEXT]
    if too_long:
        raise RuleProblems(too_long)
    return texts


def parse_rule_text(event, conditions_text, actions_text):
    """(conditions, actions) in stored form, or {field: its problems, one a line}."""
    try:
        texts = rule_texts(conditions_text, actions_text)
    except RuleError as exc:
        return {}, {problem.field: str(problem) for problem in exc.problems}
    parsed, problems = {}, {}
    for field, parse in (("conditions", lambda text: rule_lines.parse_conditions(text, event)),
                         ("actions", rule_lines.parse_actions)):
        try:
            parsed[field] = parse(texts[field])
        except RuleError as exc:
            problems[field] = str(exc)
    return parsed, problems


def form_rule(form):
    """The rule the form describes, read and checked by services.followups.rules, as
    services.followups.rulebook takes it; else RuleError naming every problem."""
    texts = rule_texts(form.conditions.data, form.actions.data)
    name, event, conditions, actions, priority = rule_lines.read_rule(
        form.name.data, form.event.data, texts["conditions"], texts["actions"], form.priority.data)
    return {"name": name, "event": event, "conditions": conditions, "actions": actions,
            "priority": priority, "active": bool(form.active.data),
            "description": plain_text(form.description.data or "")}


def count_problems(form):
    """A banner saying how many problems the form marks, instead of Flask-Admin's
    "Failed to create record.", which says neither what nor where."""
    count = sum(len(errors) for errors in form.errors.values())
    if count:
        session["_flashes"] = [(category, message) for category, message
                               in session.get("_flashes", []) if message not in ADMIN_FAILURES]
        flash(f"{count} problem{'s' * (count != 1)}: see the marked fields.", "error")


def rule_form(base):
    class RuleForm(base):
        name = StringField("Name", validators=[InputRequired()])
        description = TextAreaField("Description", validators=[Length(max=rulebook.MAX_DESCRIPTION)],
                                    description="What the rule is for, in a sentence")
        event = SelectField("Event", choices=[SelectChoice(e, f"{e}: {text}")
                                              for e, text in vocabulary.EVENTS.items()])
        # Text, checked by services.followups.rules: wtforms' IntegerField would read "٣" as 3.
        priority = StringField("Priority", default="100", widget=NumberInput(),
                               description="Rules for the same event run smallest first")
        active = BooleanField("Active", default=True)
        conditions = TextAreaField("Conditions", render_kw={"rows": 5, "class": "rule-lines"},
                                   description="One per line: field operator value, e.g. "
                                               "“source equals website”. All must hold; none: always.")
        actions = TextAreaField("Actions", render_kw={"rows": 5, "class": "rule-lines"},
                                description="One per line, e.g. “create_activity call \"Call back\" "
                                            "assign lead_owner after 1d”. See the reference below.")
    return RuleForm


class RuleView(PanelModelView):
    create_template = "rule_create.html"
    edit_template = "rule_edit.html"
    column_list = ["name", "event", "priority", "active", "conditions", "actions", "updated_at"]
    column_screens = {"priority": "sm", "conditions": "md", "actions": "md", "updated_at": "xl"}
    column_labels = {"updated_at": "Changed"}
    column_default_sort = [("event", False), ("priority", False)]
    column_sortable_list = ["name", "event", "priority", "active", "updated_at"]
    column_searchable_list = ["name"]
    column_filters = [FilterEqual(FollowUpRule.event, "Event", options=[(e, e) for e in vocabulary.EVENTS]),
                      "active"]
    column_formatters = {"conditions": _lines_cell(rule_lines.format_conditions, "always"),
                         "actions": _lines_cell(rule_lines.format_actions)}
    column_details_list = ["id", "name", "description", "event", "priority", "active",
                           "conditions", "actions", "created_at", "updated_at"]
    column_formatters_detail = column_formatters
    column_extra_row_actions = [EndpointLinkRowAction("fa fa-flask", "rules.test_view",
                                                      title="Test mode: what it would do")]

    def render(self, template, **kwargs):
        kwargs.setdefault("reference", REFERENCE)
        if template in (self.create_template, self.edit_template):
            count_problems(kwargs["form"])
        return super().render(template, **kwargs)

    def scaffold_form(self):
        return rule_form(self.form_base_class)

    def on_form_prefill(self, form, id):
        if request.method == "GET":  # after a refused save, keep what was typed
            model = self.get_one(id)
            form.conditions.data = readable(model.conditions, rule_lines.format_conditions)
            form.actions.data = readable(model.actions, rule_lines.format_actions)

    def validate_form(self, form):
        ok = super().validate_form(form)
        # Not on a page's first showing; not for the delete form, which has no fields of ours.
        if not is_form_submitted() or not hasattr(form, "conditions"):
            return ok
        try:
            form_rule(form)
        except RuleError as exc:
            # One message per cause: a field the form's own check refused (a name left
            # empty) already says why.
            ok = self.refused(form, exc, skip=[field.name for field in form if field.errors])
        return ok

    def refused(self, form, exc, skip=()):
        """Each problem of a refusal under the field it is about (else at the top); False."""
        for problem in exc.problems:
            if problem.field not in skip:
                self.field_error(form, problem.field or "", str(problem))
        return False

    def create_model(self, form):
        try:
            return rulebook.create_rule(panel_actor(), **form_rule(form))
        except RuleError as exc:
            return self.refused(form, exc)

    def update_model(self, form, model):
        try:
            rulebook.update_rule(panel_actor(), model.id, **form_rule(form))
        except RuleError as exc:
            return self.refused(form, exc)
        return True

    def delete_model(self, model):
        try:
            rulebook.delete_rule(panel_actor(), model.id)
        except rulebook.NoSuchRule as exc:
            flash(str(exc), "error")
            return False
        return True

    @action("delete", "Delete", "Delete the selected rules? Their follow-ups still waiting "
                                "are dropped; activities they created stay.")
    def action_delete(self, ids):
        count, _ = for_each_record(ids, lambda rule_id: rulebook.delete_rule(panel_actor(), rule_id),
                                   skipped=rulebook.NoSuchRule)  # deleted meanwhile
        flash(f"Deleted {count} rule{'s' * (count != 1)}.", "success")

    def _set_active(self, ids, active):
        # Deleted meanwhile: skipped; switching on a stored rule that no longer passes: refused.
        count, refused = for_each_record(
            ids, lambda rule_id: rulebook.set_active(panel_actor(), rule_id, active),
            skipped=rulebook.NoSuchRule, refused=RuleError)
        flash(f"Turned {'on' if active else 'off'} {count} rule{'s' * (count != 1)}.", "success")
        for message in refused:
            flash(f"Not turned on: {message}", "error")

    @action("activate", "Turn on", "Turn the selected rules on?")
    def action_activate(self, ids):
        self._set_active(ids, True)

    @action("deactivate", "Turn off",
            "Turn the selected rules off? Their follow-ups still waiting cancel themselves when due.")
    def action_deactivate(self, ids):
        self._set_active(ids, False)

    @expose("/test/", methods=["GET", "POST"])
    def test_view(self):
        """Test mode: a saved rule (?id=) or the form's unsaved lines, on a real lead or
        sample values. Reads only: no action runs, nothing is written."""
        row = self.get_one(request.args.get("id", ""))
        form = request.form
        event = form.get("event") or (row.event if row else next(iter(vocabulary.EVENTS)))
        event = event if event in vocabulary.EVENTS else next(iter(vocabulary.EVENTS))
        conditions_text = form.get("conditions") if "conditions" in form else (
            readable(row.conditions, rule_lines.format_conditions) if row else "")
        actions_text = form.get("actions") if "actions" in form else (
            readable(row.actions, rule_lines.format_actions) if row else "")
        names = rules.fields_for(event)
        event_only = [n for n in names if vocabulary.FIELDS[n].events != vocabulary.ALL_EVENTS]
        typed = {n: plain_text(form.get(f"sample_{n}", ""))[:200] for n in names}
        lead_text = plain_text(form.get("lead_id", ""))[:30].strip()
        explanation, errors = None, {}
        if "run" in form:
            explanation, errors = self._run_test(row, event, conditions_text, actions_text,
                                                 lead_text, typed, event_only)
        return self.render("rule_test.html", rule=row, event=event, events=vocabulary.EVENTS,
                           conditions_text=conditions_text, actions_text=actions_text,
                           lead_text=lead_text, typed=typed, fields=vocabulary.FIELDS,
                           lead_fields=[n for n in names if n not in event_only],
                           event_fields=event_only, explanation=explanation, errors=errors,
                           format_delay=rule_lines.format_delay,
                           unsaved="conditions" in form and row is not None)

    @staticmethod
    def _run_test(row, event, conditions_text, actions_text, lead_text, typed, event_only):
        parsed, errors = parse_rule_text(event, conditions_text, actions_text)
        lead = None
        if lead_text:
            lead_id = parse_id(lead_text)
            lead = Lead.get_or_none(Lead.id == lead_id) if lead_id is not None else None
            if lead is None:
                errors["lead_id"] = f"There is no lead {lead_text!r}."
        if errors:
            return None, errors
        rule = rules.Rule(id=row.id if row else 0, name=row.name if row else "(unsaved)",
                          event=event, conditions=parsed["conditions"], actions=parsed["actions"])
        sample = None if lead else {n: v for n, v in typed.items() if n not in event_only}
        try:
            explanation = automation.test_rule(rule, lead=lead, sample=sample,
                                               event_fields={n: typed[n] for n in event_only})
        except RuleError as exc:
            return None, {"sample": str(exc)}
        return explanation, {}


def _action_line(view, context, model, name):
    return Markup('<span class="rule-lines">{}</span>').format(
        readable(model.action, rule_lines.format_action))


class RuleActionView(PanelModelView):
    """The automation log: one row per action a rule scheduled, and what became of it."""
    can_create = can_edit = can_delete = False
    simple_list_pager = True  # it grows with every event; counting it costs more than the page
    column_list = ["id", "rule", "event", "lead", "action", "due_at", "status", "result",
                   "executed_at"]
    column_labels = {"id": "#", "due_at": "Due", "executed_at": "Ran"}
    column_default_sort = ("id", True)
    column_sortable_list = ["id", "event", "due_at", "status", "executed_at"]
    column_filters = [FilterEqual(RuleAction.status, "Status",
                                  options=[(s, s) for s in automation.STATUSES]),
                      IdFilter(RuleAction.rule, "Rule #"),
                      IdFilter(RuleAction.lead, "Lead #")]
    column_formatters = {"rule": lambda v, c, m, n: m.rule.name, "lead": lead_link,
                         "action": _action_line}
    column_details_list = ["id", "rule", "event", "lead", "action", "payload", "depth", "due_at",
                           "status", "result", "executed_at", "created_at", "key"]
    column_formatters_detail = column_formatters

    def get_query(self):
        return (RuleAction.select(RuleAction, FollowUpRule, Lead)
                .join(FollowUpRule, on=(RuleAction.rule == FollowUpRule.id)).switch(RuleAction)
                .join(Lead, JOIN.LEFT_OUTER, on=(RuleAction.lead == Lead.id)))
