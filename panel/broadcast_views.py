"""Broadcast: compose, preview as Telegram will show it, confirm, then watch it go out."""
from flask import flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, TextAreaField

from models import Broadcast
from panel.base import login_required_view, query_number, record_ids
from services.core.inputs import MAX_PAGE
from services.delivery import broadcasts

PAGE_SIZE = 20


class ComposeForm(FlaskForm):
    text = TextAreaField("Message", description=(
        "Telegram formatting works: <b>bold</b>, <i>italic</i>, <u>underline</u>, <s>strike</s>, "
        "<code>code</code>, <a href=\"https://…\">link</a>, <tg-spoiler>spoiler</tg-spoiler>, "
        "<blockquote>quote</blockquote>."))
    audience = SelectField("Audience", choices=[SelectChoice(value, label)
                                                for value, label in broadcasts.AUDIENCES.items()])
    test_mode = BooleanField("Test: send only to the admins")


class ConfirmForm(FlaskForm):
    text = HiddenField()
    audience = HiddenField()
    test_mode = HiddenField()


def _progress_json(rows):
    progress = broadcasts.progress([b.id for b in rows])
    return {b.id: {"sent": p.sent, "failed": p.failed, "waiting": p.waiting,
                   "cancelled": p.cancelled,
                   "success_rate": None if p.success_rate is None else round(100 * p.success_rate, 1)}
            for b, p in ((b, progress[b.id]) for b in rows)}


class BroadcastView(login_required_view(BaseView)):
    @expose("/")
    def index(self):
        page = query_number("page", 0, MAX_PAGE, "a page number", "showing the first page")
        rows = list(Broadcast.select().order_by(Broadcast.id.desc())
                    .paginate(page + 1, PAGE_SIZE))
        return self.render("broadcast_list.html", rows=rows, progress=_progress_json(rows),
                           audiences=broadcasts.AUDIENCES, page=page,
                           has_more=len(rows) == PAGE_SIZE, max_length=broadcasts.MAX_LENGTH)

    @expose("/progress.json")
    def progress(self):
        ids = record_ids(request.args.getlist("id"))[:PAGE_SIZE]
        rows = list(Broadcast.select().where(Broadcast.id.in_(ids)))
        return jsonify(_progress_json(rows))

    @expose("/new", methods=["GET", "POST"])
    def compose(self):
        form = ComposeForm()
        editing = "edit" in request.args  # back from the preview, text kept
        if form.validate_on_submit() and not editing:
            try:
                draft = broadcasts.prepare(form.text.data, form.audience.data, form.test_mode.data)
            except broadcasts.BroadcastError as exc:
                form.text.errors = [*form.text.errors, str(exc)]
            else:
                confirm = ConfirmForm(formdata=None, text=form.text.data,
                                      audience=form.audience.data,
                                      test_mode="1" if form.test_mode.data else "")
                return self.render("broadcast_preview.html", draft=draft, form=confirm)
        return self.render("broadcast_compose.html", form=form,
                           max_length=broadcasts.MAX_LENGTH)

    @expose("/send", methods=["POST"])
    def send(self):
        form = ConfirmForm()
        if not form.validate_on_submit():
            flash("The confirmation expired; please compose the broadcast again.", "error")
            return redirect(url_for(".compose"))
        try:
            broadcast = broadcasts.send(form.text.data, form.audience.data,
                                        form.test_mode.data == "1", created_by=current_user.id)
        except broadcasts.BroadcastError as exc:
            flash(str(exc), "error")
            return redirect(url_for(".compose"))
        flash(f"Broadcast #{broadcast.id} is queued for {broadcast.recipients} "
              f"{'person' if broadcast.recipients == 1 else 'people'}.", "success")
        return redirect(url_for(".index"))
