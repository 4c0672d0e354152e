"""The unsubscribe link of every email (services/inbox/unsubscribe.py), for the client, with
no login: the signed token in the link is the proof.

GET only shows a button: mail scanners and link previews fetch every link in a mail, and
must not unsubscribe anyone. POST opts the address out of email; mail programs offering
RFC 8058's one-click unsubscribe POST "List-Unsubscribe=One-Click" to the same URL, with
no CSRF token (the blueprint is exempt from CSRF and from the login: panel/__init__.py).
"""
from flask import Blueprint, current_app, render_template

from services.inbox import unsubscribe

bp = Blueprint("unsubscribe", __name__)
BAD_LINK = ("This unsubscribe link is not valid: it may have been cut short or changed. "
            "Open the link from the email again, or reply to the email with the subject "
            "\u201cunsubscribe\u201d.")


def _settings():
    return current_app.extensions["leadgram"].settings


def _page(token, done=False, status=200):
    settings = _settings()
    found = unsubscribe.read_token(settings, token)
    if found is None:
        return render_template("unsubscribe.html", company=settings.company_name, error=BAD_LINK), 404
    return render_template("unsubscribe.html", company=settings.company_name, address=found[1],
                           done=done), status


@bp.get("/unsubscribe/<token>")
def confirm(token):
    return _page(token)


@bp.post("/unsubscribe/<token>")
def unsubscribe_address(token):
    if unsubscribe.unsubscribe(_settings(), token) is None:
        return _page(token)
    return _page(token, done=True)
