"""Client conversations in the panel: the list (unread for this login, last message,
owner; search by name or any contact), one conversation as chat bubbles on every channel
with a composer ("Send by" one of the client's contacts, templates, an SMS part counter),
the client's profile and contacts beside it, and the files clients sent on Telegram,
fetched from Telegram on demand.

Every change goes through services/ as the logged-in deployer (Actor.panel); whatever
the services refuse comes back as a flash message (Post/Redirect/Get). The page polls
/conversations/<id>/messages for newer bubbles (static/conversations.js).
"""
import html
import io

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from flask_admin import BaseView, expose

from models import CONTACT_KINDS, GENDERS, Message, OutboxMessage, User, utcnow
from panel.base import (
    MAX_SEARCH_LENGTH,
    consent_note,
    local_time,
    login_required_view,
    panel_actor,
    query_number,
    shown,
)
from panel.conversation_bubbles import MAX_ATTACHMENTS, bubble, delivery_state, file_name
from services.core import clock, policy
from services.core.inputs import MAX_ID, MAX_PAGE, one_newline, parse_bounded_int, parse_id, plain_text
from services.core.markup import h
from services.crm import contacts, leads, profile
from services.crm.access import AccessDenied
from services.delivery import sms_segments
from services.delivery.html import TELEGRAM_TEXT_LIMIT
from services.delivery.telegram import TelegramTransport
from services.delivery.transport import DeliveryError
from services.inbox import attachments, conversations, destinations, reads, sending, templates

PER_PAGE = 20
HISTORY_LIMIT = 100     # bubbles on the page; "Older messages" shows the 100 before them
POLL_LIMIT = 100        # newer bubbles in one poll answer; more: the page reloads
WATCHED_LIMIT = 50      # outbound messages whose delivery state one poll refreshes
STATUSES = {"open": "Open", "closed": "Closed", "all": "All"}
MAX_TEMPLATE_NAME = 64
MAX_FORM_TEXT = 10_000  # a profile field as typed; the service says what is too long
# What a file may be shown as inline; anything else is a download of bytes.
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_KEY = 300           # a "Send by" key as posted: "email:ann@example.com"
UNKNOWN_DESTINATION = ("Not sent: {key} is not one of this client's contacts on a channel that "
                       "is set up (it may have been removed). Choose one under “Send by”.")
# Each a refusal to show, never a server error.
REFUSALS = (sending.CannotSend, contacts.InvalidContact, contacts.DuplicateContact,
            AccessDenied, LookupError, ValueError)
PROFILE_TEXT = ("first_name", "middle_name", "last_name", "gender", "date_of_birth", "address",
                "passport_number", "tax_pin", "comments")
FRAGMENT_HEADER = "X-Leadgram-Fragment"


def _key(value):
    """A destination key as a form or link gave it, bounded."""
    return plain_text(str(value or "")).strip()[:MAX_KEY]


class NotFound(LookupError):
    """No such conversation (or message, or file), as a page says it."""


def _settings():
    return current_app.extensions["leadgram"].settings


def _zone():
    return _settings().timezone


def _refusal(exc):
    """A service's message as the panel shows it: some are written for Telegram's HTML
    parse mode (names escaped with h()), and Jinja escapes again."""
    return html.unescape(str(exc))


def error_page(title, message, status):
    return render_template("error.html", title=title, message=message), status


def _owners(conversation_rows):
    """{user id: User} of the leads' owners on a page, in one query."""
    ids = {c.lead.owner_id for c in conversation_rows if c.lead.owner_id}
    return {u.id: u for u in User.select().where(User.id.in_(list(ids)))} if ids else {}


def transport():
    """How the panel fetches files from Telegram (tests put a fake in its place)."""
    settings = _settings()
    return TelegramTransport(settings.telegram_api_url, settings.bot_token)


class ConversationView(login_required_view(BaseView)):
    """/conversations/: the list, and one conversation's page and its buttons."""

    # Reading --------------------------------------------------------------------------

    @expose("/")
    def index(self):
        actor = panel_actor()
        status = request.args.get("status") or "open"
        if status not in STATUSES:
            flash(f"{shown(status)} is not a status; showing open conversations.", "error")
            status = "open"
        number = query_number("page", 0, MAX_PAGE, "a page number", "showing the first page")
        search = " ".join(plain_text(request.args.get("search") or "").split())[:MAX_SEARCH_LENGTH]
        rows, number, pages = conversations.page(
            actor, number, PER_PAGE, status=None if status == "all" else status,
            search=leads.matching(search))
        owners = _owners([c for c, _, _ in rows])
        entries = [{
            "conversation": c, "lead": c.lead, "unread": unread,
            "unread_label": f"{unread}+" if unread >= reads.COUNT_CAP else str(unread),
            "owner": owners.get(c.lead.owner_id),
            "preview": (attachments.preview(last.text, attachments.loads(last.attachments), limit=140)
                        if last else ""),
            "outbound": bool(last and last.direction == "out"),
            "sender": last.sender_label if last else "",
            "when": local_time(c.last_message_at),
        } for c, last, unread in rows]
        return self.render("conversations/list.html", entries=entries, status=status,
                           statuses=STATUSES, search=search, page=number, pages=pages,
                           timezone=_zone())

    @expose("/<conversation_id>")
    def page(self, conversation_id):
        actor = panel_actor()
        try:
            conversation = self._find(actor, conversation_id)
        except NotFound as exc:
            return error_page("No such conversation", str(exc), 404)
        return self._page(actor, conversation, via=request.args.get("via"))

    def _page(self, actor, conversation, draft="", via=None):
        """The conversation's page; `draft` and `via` (a destination key): a refused
        message, kept in the composer as the member left it."""
        lead = conversation.lead
        zone = _zone()
        now = utcnow()
        # ?before=<message id>: an older page, which is only read, not polled or marked read.
        before = parse_id(request.args.get("before", ""))
        shown_messages = conversations.history(conversation.id, limit=HISTORY_LIMIT,
                                               before_id=before)
        if shown_messages and before is None:
            reads.mark_read(reads.reader_of(actor), conversation.id, shown_messages[-1].id)
        bubbles = [bubble(conversation.id, m, zone, now) for m in shown_messages]
        client = conversations.client_user(lead.id)
        owner = User.get_or_none(User.id == lead.owner_id) if lead.owner_id else None
        choices = destinations.of_lead(lead.id)
        chosen = destinations.find(lead.id, _key(via)) if via else None
        chosen = chosen or destinations.default_for(conversation)
        refusals = {d.key: _refusal(destinations.refusal(lead, d, False, now=now) or "")
                    for d in choices}
        no_channel = "" if choices else _refusal(destinations.refusal(lead, None, False, now=now))
        return self.render(
            "conversations/page.html", conversation=conversation, lead=lead, bubbles=bubbles,
            more_before=len(shown_messages) == HISTORY_LIMIT, before=before,
            first_id=shown_messages[0].id if shown_messages else 0,
            last_id=shown_messages[-1].id if shown_messages else 0,
            templates=templates.all(), contacts=contacts.of(lead.id), kinds=CONTACT_KINDS,
            owner=owner, client=client, choices=choices, chosen=chosen, refusals=refusals,
            no_channel=no_channel, draft=draft, sms=sms_segments.count(one_newline(draft).strip()),
            sms_max=policy.current().sms_max_segments, consent=consent_note,
            secrets={f: profile.masked(getattr(lead, f)) for f in profile.SECRET_FIELDS},
            timezone=zone, max_text=TELEGRAM_TEXT_LIMIT)

    @expose("/<conversation_id>/messages")
    def poll(self, conversation_id):
        """The bubbles after ?after=<id>, and the delivery states of the outbound
        messages named by ?pending=<id> (repeated): an HTML fragment for the page."""
        actor = panel_actor()
        try:
            conversation = self._find(actor, conversation_id)
        except NotFound as exc:
            return exc.args[0], 404, {"Content-Type": "text/plain; charset=utf-8"}
        after = parse_bounded_int(request.args.get("after") or "0", 0, MAX_ID)
        after = after or 0
        zone = _zone()
        now = utcnow()
        newer = conversations.history(conversation.id, limit=POLL_LIMIT, after_id=after)
        if newer:
            reads.mark_read(reads.reader_of(actor), conversation.id, newer[-1].id)
        watched = [i for i in map(parse_id, request.args.getlist("pending")[:WATCHED_LIMIT]) if i]
        states = [delivery_state(m, now) for m in (
            Message.select(Message, OutboxMessage)
            .join(OutboxMessage, on=(Message.outbox == OutboxMessage.id))
            .where(Message.conversation == conversation.id, Message.id.in_(watched),
                   Message.direction == "out"))] if watched else []
        previous = (Message.select(Message.created_at)
                    .where(Message.id == after, Message.conversation == conversation.id).first()
                    if after and newer else None)
        previous_day = f"{clock.to_local(previous.created_at, zone):%Y-%m-%d}" if previous else ""
        body = render_template("conversations/poll.html",
                               bubbles=[bubble(conversation.id, m, zone, now) for m in newer],
                               states=states, previous_day=previous_day)
        headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                   FRAGMENT_HEADER: "messages"}
        if len(newer) == POLL_LIMIT:
            headers["X-Leadgram-More"] = "1"  # a gap: the page reloads
        return body, 200, headers

    @expose("/<conversation_id>/file/<message_id>/<index>")
    def file(self, conversation_id, message_id, index):
        """A file a message carries, fetched from Telegram now: a photo shown as itself,
        anything else downloaded."""
        try:
            conversation = self._find(actor=panel_actor(), conversation_id=conversation_id)
            item = self._file_item(conversation, message_id, index)
        except NotFound as exc:
            return error_page("No such file", str(exc), 404)
        settings = _settings()
        if not settings.bot_token:
            return error_page("Files are unavailable", (
                "TELEGRAM_BOT_TOKEN is not set here, so files cannot be fetched from Telegram."), 503)
        try:
            data, content_type = transport().get_file(item["file_id"])
        except DeliveryError as exc:
            return error_page("Telegram did not give the file", (
                f"Telegram did not give this file ({exc.description}). Try again in a moment; "
                "files older than Telegram keeps them cannot be fetched any more."), 502)
        inline = content_type in INLINE_IMAGES
        response = send_file(io.BytesIO(data), mimetype=content_type if inline else "application/octet-stream",
                             as_attachment=not inline, max_age=3600,
                             download_name=file_name(item, message_id, index, content_type))
        response.cache_control.public = False
        response.cache_control.private = True
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    @expose("/<conversation_id>/profile", methods=["GET", "POST"])
    def profile(self, conversation_id):
        """The client's profile form: names and profile fields through leads.edit_lead."""
        actor = panel_actor()
        try:
            conversation = self._find(actor, conversation_id)
        except NotFound as exc:
            if request.method == "POST":
                return self._back_to_list(exc)
            return error_page("No such conversation", str(exc), 404)
        lead = conversation.lead
        values = {name: getattr(lead, name) for name in PROFILE_TEXT}
        values["date_of_birth"] = lead.date_of_birth.isoformat() if lead.date_of_birth else ""
        errors = {}
        if request.method == "POST":
            typed = {name: plain_text(request.form.get(name, ""))[:MAX_FORM_TEXT] for name in PROFILE_TEXT}
            values.update(typed)
            try:
                self._save_profile(actor, lead, typed)
            except (leads.InvalidLead, leads.DuplicateLead, profile.InvalidProfile) as exc:
                errors[exc.field] = str(exc)
                flash(f"The profile was not saved: {exc}", "error")
            except REFUSALS as exc:
                flash(f"The profile was not saved: {_refusal(exc)}", "error")
            else:
                flash("Profile saved.", "success")
                return redirect(url_for(".page", conversation_id=conversation.id))
        return self.render("conversations/profile.html", conversation=conversation, lead=lead,
                           values={k: "" if v is None else v for k, v in values.items()},
                           errors=errors, genders=GENDERS, labels=profile.LABELS)

    # Changing -------------------------------------------------------------------------

    @expose("/<conversation_id>/send", methods=["POST"])
    def send(self, conversation_id):
        text = request.form.get("text", "")

        def work(actor, conversation, destination):
            sending.send_text(actor, conversation.id, text, destination=destination)
        return self._send(conversation_id, work, draft=text)

    @expose("/<conversation_id>/template", methods=["POST"])
    def send_template(self, conversation_id):
        name = plain_text(request.form.get("template", "")).strip()[:MAX_TEMPLATE_NAME]

        def work(actor, conversation, destination):
            if not name:
                raise sending.CannotSend("Choose a template to send.")
            # COMPANY_NAME: the policy's; on WhatsApp, the template's content SID if it has one.
            sending.send_template(actor, conversation.id, name, destination=destination)
        return self._send(conversation_id, work, draft=request.form.get("text", ""))

    def _send(self, conversation_id, work, draft):
        """Send to the contact the form's "Send by" names (`via`, a destination key; none:
        where the client last wrote). Refused, the page comes back with the draft and the
        choice as they were, and the reason; nothing is sent."""
        actor = panel_actor()
        try:
            conversation = self._find(actor, conversation_id)
        except NotFound as exc:
            return self._back_to_list(exc)
        via = _key(request.form.get("via"))
        try:
            destination = None
            if via:
                destination = destinations.find(conversation.lead_id, via)
                if destination is None:
                    raise sending.CannotSend(UNKNOWN_DESTINATION.format(key=h(shown(via))))
            work(actor, conversation, destination)
        except REFUSALS as exc:
            flash(_refusal(exc), "error")
            draft = plain_text(draft or "")[:MAX_FORM_TEXT]
            return self._page(actor, conversation, draft=draft, via=via)
        return redirect(url_for(".page", conversation_id=conversation.id, via=via or None,
                                _anchor="composer"))

    @expose("/<conversation_id>/close", methods=["POST"])
    def close(self, conversation_id):
        def work(actor, conversation):
            if conversations.close(actor, conversation.id):
                return "Conversation closed. The client's next message opens it again."
            return "This conversation was already closed."
        return self._act(conversation_id, work)

    @expose("/<conversation_id>/contacts", methods=["POST"])
    def add_contact(self, conversation_id):
        kind = plain_text(request.form.get("kind", "")).strip()
        text = plain_text(request.form.get("value", ""))[:MAX_FORM_TEXT]

        def work(actor, conversation):
            contact = contacts.add(actor, conversation.lead_id, kind, text)
            return f"Added {contact.kind} {contacts.shown(contact)}."
        return self._act(conversation_id, work, anchor="contacts")

    @expose("/<conversation_id>/contacts/<contact_id>/remove", methods=["POST"])
    def remove_contact(self, conversation_id, contact_id):
        def work(actor, conversation):
            key = parse_id(contact_id)
            if key is None or not contacts.remove(actor, conversation.lead_id, key):
                raise LookupError("That contact is not this client's (or was removed already).")
            return "Contact removed."
        return self._act(conversation_id, work, anchor="contacts")

    # Helpers --------------------------------------------------------------------------

    @staticmethod
    def _back_to_list(refusal):
        """A change asked of a conversation that is gone or not the actor's: the list,
        saying why."""
        flash(str(refusal), "error")
        return redirect(url_for(".index"))

    @staticmethod
    def _find(actor, conversation_id):
        key = parse_id(conversation_id)
        if key is None:
            raise NotFound(f"There is no conversation {shown(conversation_id)!r}.")
        try:
            return conversations.require(actor, key)
        except (LookupError, AccessDenied) as exc:
            raise NotFound(str(exc)) from None

    @staticmethod
    def _file_item(conversation, message_id, index):
        key, number = parse_id(message_id), parse_bounded_int(index, 0, MAX_ATTACHMENTS - 1)
        message = (Message.get_or_none(Message.id == key, Message.conversation == conversation.id)
                   if key is not None else None)
        if message is None:
            raise NotFound("This conversation has no such message.")
        items = attachments.loads(message.attachments)
        if number is None or number >= len(items):
            raise NotFound("This message has no such attachment.")
        item = items[number]
        if item["kind"] not in attachments.FILE_KINDS or not item.get("file_id"):
            raise NotFound("This attachment is not a file (a location or a contact is shown "
                           "on the conversation's page).")
        return item

    @staticmethod
    def _save_profile(actor, lead, typed):
        raw = {"first_name": typed["first_name"], "last_name": typed["last_name"],
               # Kept as they are: update_lead validates every contact field it is given.
               "email": lead.email, "phone": lead.phone, "country": lead.country}
        details = {name: typed[name] for name in profile.FIELDS}
        leads.edit_lead(actor, lead.id, raw, owner_id=lead.owner_id, profile=details)

    def _act(self, conversation_id, work, anchor=None):
        """Run one change as the panel; a refusal becomes an error message, a returned
        text a confirmation; then back to the conversation (PRG)."""
        actor = panel_actor()
        try:
            conversation = self._find(actor, conversation_id)
        except NotFound as exc:
            return self._back_to_list(exc)
        try:
            done = work(actor, conversation)
        except REFUSALS as exc:
            flash(_refusal(exc), "error")
        else:
            if done:
                flash(done, "success")
        return redirect(url_for(".page", conversation_id=conversation.id, _anchor=anchor))

