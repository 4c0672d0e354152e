"""/channels: how each channel is doing. One card per channel (Telegram, sending and
receiving email, SMS, WhatsApp): on or off and which settings turn it on, its last
success and last error (services/delivery/channels.py records them; an error newer than
the last success is the channel's state now), the outbox rows waiting and failed on it,
and for Twilio the webhook addresses to paste into its console. Below: the provider
events given up on (services/inbox/inbound.py) and the webhooks refused for a bad
signature.
"""
from dataclasses import dataclass

from flask import current_app, url_for
from flask_admin import BaseView, expose

from panel.base import login_required_view
from services.delivery import channels, outbox
from services.inbox import inbound

TWILIO_HOOKS = {channels.SMS: "twilio_hooks.sms", channels.WHATSAPP: "twilio_hooks.whatsapp"}
STATUS_HOOK = "twilio_hooks.status"


@dataclass
class Card:
    name: str            # a channels name: telegram, email, imap, sms, whatsapp
    title: str
    on: bool
    off_reason: str = ""
    state: object = None     # its ChannelState, if it ever worked or failed
    failing: bool = False    # its last error is newer than its last success
    waiting: int = 0
    failed: int = 0
    sends: bool = True       # receiving email has no outbox rows
    hooks: tuple = ()        # (what, URL) to give Twilio


def twilio_hooks(settings, channel):
    """(what, URL) for the Twilio console: where the number's messages go, and the status
    callback; the URLs are PUBLIC_BASE_URL's (empty: Twilio cannot reach the panel)."""
    base = settings.public_base_url.rstrip("/")
    if not base:
        return ()
    return ((f"A message comes in ({channels.LABELS[channel]})", base + url_for(TWILIO_HOOKS[channel])),
            ("Delivery reports (status callback; each message asks Twilio for them)",
             base + url_for(STATUS_HOOK)))


def cards(settings):
    states, counts = channels.states(), outbox.unfinished_by_channel()
    made = []
    for name, title in ((channels.TELEGRAM, "Telegram"), (channels.EMAIL, "Email sending (SMTP)"),
                        (channels.IMAP, "Email receiving (IMAP)"), (channels.SMS, "SMS (Twilio)"),
                        (channels.WHATSAPP, "WhatsApp (Twilio)")):
        on = settings.channel_on(name) and (name != channels.TELEGRAM or bool(settings.bot_token))
        if on:
            reason = ""
        elif name == channels.TELEGRAM:
            reason = "Telegram is not set up: set TELEGRAM_BOT_TOKEN."
        else:
            reason = channels.off_reason(name)
        state = states.get(name)
        made.append(Card(name, title, on, reason, state, channels.failing(state),
                         sends=name != channels.IMAP,
                         hooks=twilio_hooks(settings, name) if name in TWILIO_HOOKS else (),
                         **counts.get(name, {})))
    return made


class ChannelView(login_required_view(BaseView)):
    @expose("/")
    def index(self):
        settings = current_app.extensions["leadgram"].settings
        webhooks = channels.states().get(channels.TWILIO_WEBHOOKS)
        return self.render("channels/index.html", cards=cards(settings),
                           public_base_url=settings.public_base_url,
                           twilio_on=any(settings.channel_on(c) for c in TWILIO_HOOKS),
                           webhooks=webhooks, webhooks_failing=channels.failing(webhooks),
                           given_up=inbound.failed(), timezone=settings.timezone)
