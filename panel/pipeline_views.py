"""The pipeline in the panel: one lead's page (stage, score, transfer, owner,
activities, timeline) and the overview of both pipelines with the statistics.

Every change goes through the services as the logged-in deployer
(Actor.panel); whatever they refuse comes back as a flash message.
"""
from flask import current_app, flash, redirect, url_for
from flask_admin import BaseView, expose
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField

from models import OPEN_LEAD_STAGES, OUTCOMES, Activity, FollowUpRule
from panel.base import NOBODY, local_time, login_required_view, panel_actor, shown, team_members
from services.core.clock import parse_local
from services.core.inputs import parse_id, plain_text
from services.crm import activities, pipeline, scoring
from services.crm.access import AccessDenied, visible_activities
from services.followups import periodic

TIMELINE_LIMIT = 50
ROUND_ROBIN = "round_robin"
# StageError and InvalidActivity are ValueErrors; LookupError: no such lead or activity.
REFUSALS = (AccessDenied, LookupError, ValueError)


def _label(code):
    return code.replace("_", " ")


class StageForm(FlaskForm):
    stage = StringField()


class AssignForm(FlaskForm):
    member = SelectField("Owner", choices=[])


class LogForm(FlaskForm):
    kind = SelectField("Type", choices=[SelectChoice(t, _label(t)) for t in activities.LOGGABLE_TYPES])
    subject = StringField("Subject")
    description = TextAreaField("Description")
    due_at = StringField("Due")
    assigned_to = SelectField("Assigned to", choices=[], default=NOBODY)
    done = BooleanField("Already done")
    outcome = SelectField("Outcome (if done)", default="", choices=[SelectChoice("", "—")]
                          + [SelectChoice(o, _label(o)) for o in OUTCOMES])


class CompleteForm(FlaskForm):
    outcome = SelectField("Outcome", choices=[SelectChoice(o, _label(o)) for o in OUTCOMES])
    note = TextAreaField("Note")


def _member_choices(first):
    return [SelectChoice(*first)] + [SelectChoice(str(u.id), u.display_name) for u in team_members()]


def _settings():
    return current_app.extensions["leadgram"].settings


def _form_problems(form):
    return "; ".join(f"{getattr(form, name).label.text}: {' '.join(errors)}"
                     for name, errors in form.errors.items())


def _scheduled_text(rows):
    """What the rules made of an event, in a sentence."""
    if not rows:
        return ""
    names = {r.id: r.name for r in FollowUpRule.select().where(
        FollowUpRule.id.in_([row.rule_id for row in rows]))}
    parts = [f"“{names.get(row.rule_id, row.rule_id)}” "
             + (f"due {local_time(row.due_at)}" if row.status == "pending" else (row.result or row.status))
             for row in rows]
    return " Rules: " + "; ".join(parts) + "."


class LeadPipelineView(login_required_view(BaseView)):
    """/lead/<id>/pipeline and the buttons on it (not in the menu: reached from the leads list)."""

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("leads.index_view"))

    @expose("/<lead_id>/pipeline")
    def page(self, lead_id):
        actor = panel_actor()
        try:
            key = self._lead_key(lead_id)
            lead, entries = activities.timeline(actor, key, limit=TIMELINE_LIMIT)
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(url_for("leads.index_view"))
        assign_form = AssignForm(formdata=None)
        assign_form.member.choices = _member_choices((ROUND_ROBIN, "Round robin (next salesperson)"))
        log_form = LogForm(formdata=None)
        log_form.assigned_to.choices = _member_choices((NOBODY, "Nobody yet"))
        open_activities = list(visible_activities(actor).where(
            Activity.lead == lead.id, Activity.completed_at.is_null()).order_by(Activity.due_at))
        next_stages = pipeline.next_stages(lead)
        return self.render(
            "lead_pipeline.html", lead=lead, entries=entries, score=pipeline.latest_score(lead.id),
            recommendations=scoring.RECOMMENDATIONS, pipeline_name=pipeline.pipeline_of(lead),
            stage=pipeline.current_stage(lead),
            stage_buttons=[s for s in next_stages if s != "transferred"],
            can_transfer="transferred" in next_stages,
            transfer_problems=(pipeline.transfer_problems(lead)
                               if lead.stage in OPEN_LEAD_STAGES else []),
            open_activities=open_activities, assign_form=assign_form, log_form=log_form,
            complete_form=CompleteForm(formdata=None),
            timezone=_settings().timezone, min_score=_settings().transfer_min_score)

    @staticmethod
    def _lead_key(lead_id):
        key = parse_id(lead_id)
        if key is None:
            raise LookupError(f"There is no lead {shown(lead_id)!r}.")
        return key

    def _act(self, lead_id, work):
        """Run one change; a refusal becomes an error message, success a confirmation."""
        try:
            key = self._lead_key(lead_id)
        except LookupError as exc:
            flash(str(exc), "error")
            return redirect(url_for("leads.index_view"))
        try:
            flash(work(key), "success")
        except REFUSALS as exc:
            flash(str(exc), "error")
        return redirect(url_for(".page", lead_id=key))

    @expose("/<lead_id>/stage", methods=["POST"])
    def stage(self, lead_id):
        to_stage = plain_text(StageForm().stage.data or "").strip()[:40]

        def work(key):
            change = pipeline.change_stage(panel_actor(), key, to_stage)
            return f"Lead #{key}: {change.from_stage} → {change.to_stage}."
        return self._act(lead_id, work)

    @expose("/<lead_id>/transfer", methods=["POST"])
    def transfer(self, lead_id):
        def work(key):
            _, owner = pipeline.transfer(panel_actor(), key)
            given = (f" {owner.display_name} has it now and has been told." if owner else
                     " Nobody in sales can take it, so it keeps its owner.")
            return f"Lead #{key} is transferred to sales; its sale starts at stage new.{given}"
        return self._act(lead_id, work)

    @expose("/<lead_id>/score", methods=["POST"])
    def score(self, lead_id):
        def work(key):
            row = scoring.score_lead(panel_actor(), key, settings=_settings())
            advice = scoring.RECOMMENDATIONS.get(row.recommendation, row.recommendation)
            return f"Score {row.score:.2f}: {advice}. Why: {row.reason}"
        return self._act(lead_id, work)

    @expose("/<lead_id>/assign", methods=["POST"])
    def assign(self, lead_id):
        form = AssignForm()
        chosen = form.member.data or ""
        member = ROUND_ROBIN if chosen == ROUND_ROBIN else parse_id(chosen)

        def work(key):
            if member is None:
                raise LookupError("Choose a team member or round robin.")
            person = pipeline.assign(panel_actor(), key, member)
            return f"Lead #{key} now belongs to {person.display_name}."
        return self._act(lead_id, work)

    @expose("/<lead_id>/activities", methods=["POST"])
    def log_activity(self, lead_id):
        form = LogForm()
        form.assigned_to.choices = _member_choices((NOBODY, "Nobody yet"))

        def work(key):
            if not form.validate():
                raise ValueError(f"The activity was not logged: {_form_problems(form)}")
            timezone = _settings().timezone
            due_at = parse_local(form.due_at.data, timezone) if (form.due_at.data or "").strip() else None
            assignee = None if form.assigned_to.data == NOBODY else parse_id(form.assigned_to.data)
            activity = activities.log(panel_actor(), key, form.kind.data, form.subject.data,
                                      description=form.description.data, due_at=due_at,
                                      assigned_to=assignee, done=form.done.data,
                                      outcome=form.outcome.data or None)
            state = ("done" if activity.completed_at else f"due {local_time(activity.due_at)} ({timezone})")
            return f"Logged {_label(activity.type)} #{activity.id} “{activity.subject}”, {state}."
        return self._act(lead_id, work)

    @expose("/<lead_id>/activities/<activity_id>/complete", methods=["POST"])
    def complete(self, lead_id, activity_id):
        form = CompleteForm()

        def work(key):
            target = parse_id(activity_id)
            if target is None or Activity.get_or_none(Activity.id == target, Activity.lead == key) is None:
                raise LookupError("There is no such activity on this lead.")
            if not form.validate():
                raise ValueError(f"Not marked done: {_form_problems(form)}")
            activity, scheduled = activities.complete(panel_actor(), target, form.outcome.data,
                                                      description=form.note.data)
            return (f"Marked {_label(activity.type)} #{activity.id} done: {_label(activity.outcome)}."
                    + _scheduled_text(scheduled))
        return self._act(lead_id, work)


class PipelineView(login_required_view(BaseView)):
    """Both pipelines at a glance, and how the team's follow-ups are going."""

    @expose("/")
    def index(self):
        totals = pipeline.stage_totals()
        stats = activities.statistics()
        by_type = stats["by_type"]
        columns = [c for c in ("open", *OUTCOMES, "done") if any(c in row for row in by_type.values())]
        widest = max([count for _, _, count, _ in totals] + [1])
        return self.render("pipeline.html", totals=totals, widest=widest, by_type=by_type,
                           type_columns=columns, overdue=stats["overdue_by_member"],
                           conversion=stats["conversion"], label=_label,
                           jobs=sorted(periodic.status().values(), key=lambda job: job.name))
