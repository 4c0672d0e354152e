"""The index page: today's figures and three charts (Chart.js, served from /static); with
the shop on (SHOP), its figures and two more charts below them; a red card naming the
channels whose last error is newer than their last success (details: /channels)."""
from flask import current_app
from flask_admin import AdminIndexView, expose

from panel.base import login_required_view
from services.core import policy
from services.delivery import channels
from services.ops import dashboard
from services.shop import analytics


class DashboardView(login_required_view(AdminIndexView)):
    @expose("/")
    def index(self):
        settings = current_app.extensions["leadgram"].settings
        summary = dashboard.summary(settings)
        charts = {
            "leadsPerDay": [[day.isoformat(), n] for day, n in dashboard.leads_per_day(settings)],
            "leadsByCountry": dashboard.leads_by_country(),
            "outboxByStatus": [[status, n] for status, n in summary.outbox.items() if n],
        }
        shop = analytics.summary(settings.timezone) if policy.current().shop else None
        if shop:
            charts["ordersByStatus"] = [[status, n] for status, n in shop.by_status.items() if n]
            charts["packagePopularity"] = [[name, n] for name, n in shop.popularity]
        return self.render("dashboard.html", summary=summary, charts=charts, shop=shop,
                           failing_channels=failing_channels(settings),
                           timezone=settings.timezone,
                           stale_after=dashboard.stale_after(settings))


# What each ChannelState name is part of, to leave out a channel since turned off.
SETTING_OF = {channels.TWILIO_WEBHOOKS: (channels.SMS, channels.WHATSAPP),
              **{name: (name,) for name in (*channels.LABELS, channels.IMAP)}}
SHOWN_AS = {**channels.LABELS, channels.EMAIL: "Email sending", channels.IMAP: "Email receiving",
            channels.TWILIO_WEBHOOKS: "Twilio webhooks"}


def failing_channels(settings):
    """The names of the channels (that are on) whose latest error is newer than their
    latest success."""
    def on(name):
        return name not in SETTING_OF or any(settings.channel_on(c) for c in SETTING_OF[name])
    return [SHOWN_AS.get(name, name) for name, state in sorted(channels.states().items())
            if channels.failing(state) and on(name)]
