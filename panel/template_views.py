"""Message templates in the panel: the canned texts the team sends clients (`/t name` in
chat), each optionally with the WhatsApp template approved for it (its Twilio content
SID). Checked, saved and deleted by services.inbox.templates; the form shows the
placeholders and a preview filled in with sample values."""
from flask import flash
from flask_admin.actions import action
from markupsafe import Markup
from wtforms import StringField, TextAreaField

from panel.base import PanelModelView, for_each_record, panel_actor
from services.inbox import templates
from services.inbox.templates import TemplateError

LIST_PREVIEW = 80  # characters of a template's text in the list
REFERENCE = {"placeholders": templates.PLACEHOLDERS, "sample": templates.SAMPLE_VALUES,
             "max_text": templates.MAX_TEXT, "welcome": templates.WELCOME}


def _one_line(text, limit=LIST_PREVIEW):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _name_cell(view, context, model, name):
    if model.name == templates.WELCOME:
        return Markup('{} <span class="badge badge-secondary" title="{}">greeting</span>').format(
            model.name, "The bot greets every new client with it: it can be edited, not renamed or deleted.")
    return model.name


def _text_cell(view, context, model, name):
    return Markup('<span class="template-text">{}</span>').format(_one_line(model.text))


def _full_text(view, context, model, name):
    return Markup('<pre class="template-text" style="white-space: pre-wrap">{}</pre>').format(model.text)


def _preview_cell(view, context, model, name):
    return Markup('<pre class="template-preview" style="white-space: pre-wrap">{}</pre>').format(
        templates.render_plain(model.text, templates.SAMPLE_VALUES))


def _content_sid_cell(view, context, model, name):
    if not model.whatsapp_content_sid:
        return Markup('<span class="text-muted" title="{}">—</span>').format(
            "No WhatsApp template: outside 24 h of a client's WhatsApp message it cannot go there")
    return Markup('<span class="badge badge-success" title="{}">WhatsApp</span>').format(
        model.whatsapp_content_sid)


def template_form(base):
    class TemplateForm(base):
        name = StringField("Name", description="Letters a-z, digits and _; the team sends it with "
                                                "/t name, and rules with send_template name to client")
        text = TextAreaField("Text", render_kw={"rows": 8, "maxlength": templates.MAX_TEXT},
                             description="Plain text, up to 3,500 characters. Placeholders are "
                                         "listed below.")
        whatsapp_content_sid = StringField(
            "WhatsApp content SID", render_kw={"maxlength": 40, "placeholder": "HX…",
                                               "autocomplete": "off", "spellcheck": "false"},
            description="Optional. The SID (HX and 32 hexadecimal digits) of the WhatsApp template "
                        "approved for this text, from Twilio's Content Template Builder: more than "
                        "24 hours after a client's last WhatsApp message, only such a template can "
                        "be sent there. Its variables {{1}}, {{2}}… are this text's placeholders, "
                        "in order.")
    return TemplateForm


class TemplateView(PanelModelView):
    create_template = "message_template_create.html"
    edit_template = "message_template_edit.html"
    column_list = ["name", "text", "whatsapp_content_sid", "updated_at"]
    column_labels = {"updated_at": "Updated", "whatsapp_content_sid": "WhatsApp"}
    column_default_sort = ("name", False)
    column_sortable_list = ["name", "updated_at"]
    column_searchable_list = ["name", "text"]
    column_formatters = {"name": _name_cell, "text": _text_cell,
                         "whatsapp_content_sid": _content_sid_cell}
    column_details_list = ["id", "name", "text", "preview", "whatsapp_content_sid", "created_at",
                           "updated_at"]
    column_formatters_detail = {"name": _name_cell, "text": _full_text, "preview": _preview_cell}
    column_labels_detail = {"preview": "Preview (sample values)",
                            "whatsapp_content_sid": "WhatsApp content SID"}

    def render(self, template, **kwargs):
        kwargs.setdefault("reference", REFERENCE)
        form = kwargs.get("form")
        if template in (self.create_template, self.edit_template) and hasattr(form, "text"):
            kwargs.setdefault("preview", self.preview(form.text.data))
        return super().render(template, **kwargs)

    @staticmethod
    def preview(text):
        """The text filled in with sample values, or None if it cannot be saved as it is."""
        try:
            return templates.render_plain(templates.check(text), templates.SAMPLE_VALUES)
        except TemplateError:
            return None

    def scaffold_form(self):
        return template_form(self.form_base_class)

    def validate_form(self, form):
        ok = super().validate_form(form)
        if not ok or not hasattr(form, "text"):  # the delete form has no fields of ours
            return ok
        for field, check in (("name", templates.check_name), ("text", templates.check),
                             ("whatsapp_content_sid", templates.check_content_sid)):
            try:
                check(getattr(form, field).data)
            except TemplateError as exc:
                ok = self.field_error(form, field, str(exc))
        return ok

    def refused(self, form, exc):
        """A service refusal under the field it is about (else at the top); False."""
        return self.field_error(form, exc.field or "", str(exc))

    def create_model(self, form):
        try:
            return templates.save(panel_actor(), form.name.data, form.text.data,
                                  whatsapp_content_sid=form.whatsapp_content_sid.data)
        except TemplateError as exc:
            return self.refused(form, exc)

    def update_model(self, form, model):
        try:
            templates.save(panel_actor(), form.name.data, form.text.data, template_id=model.id,
                           whatsapp_content_sid=form.whatsapp_content_sid.data)
        except TemplateError as exc:
            return self.refused(form, exc)
        return True

    def delete_model(self, model):
        try:
            templates.delete(panel_actor(), model.id)
        except TemplateError as exc:  # deleted meanwhile, or the welcome template
            flash(str(exc), "error")
            return False
        return True

    @action("delete", "Delete", "Delete the selected templates?")
    def action_delete(self, ids):
        count, refused = for_each_record(
            ids, lambda template_id: templates.delete(panel_actor(), template_id),
            skipped=templates.NoSuchTemplate, refused=TemplateError)
        flash(f"Deleted {count} template{'s' * (count != 1)}.", "success")
        for message in refused:
            flash(message, "error")
