"""The index page: today's figures and three charts (Chart.js, served from /static); with
the shop on (SHOP), its figures over a chosen period (?from=&to= local dates, or ?days=
for the presets) and four more charts below them, and a red card when the payments and
the ledger disagree; a red card naming the channels whose last error is newer than their
last success (details: /channels)."""
from dataclasses import dataclass

from flask import current_app, request, url_for
from flask_admin import AdminIndexView, expose

from models import utcnow
from panel.base import login_required_view
from services.core import policy
from services.core.clock import local_date
from services.core.markup import usd
from services.delivery import channels
from services.ops import dashboard, revenue
from services.payments import reconciliation
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
        shop = shop_figures(settings.timezone, request.args) if policy.current().shop else None
        if shop:
            charts.update(shop.charts())
        return self.render("dashboard.html", summary=summary, charts=charts, shop=shop,
                           failing_channels=failing_channels(settings),
                           timezone=settings.timezone,
                           stale_after=dashboard.stale_after(settings))


@dataclass(frozen=True)
class ShopFigures:
    period: analytics.Period
    notes: list                 # what the query string asked that was not taken as written
    today: object               # the local date, for the presets
    orders: analytics.ShopSummary
    growth: analytics.Growth
    revenue: revenue.Revenue
    problems: int               # payments and ledger disagreeing (reconciliation)
    reconciliation_url: str
    token_price_usd: object     # Decimal
    presets = analytics.PRESETS

    @property
    def average_order_usd(self):
        """The average order value in USD at TOKEN_PRICE_USD, or None."""
        if self.orders.average_order_value is None:
            return None
        return usd(round(self.orders.average_order_value * float(self.token_price_usd) * 100))

    def preset(self, days):
        """Whether the period is the preset of the last `days` days."""
        return self.period == analytics.Period.ending(self.today, days)

    def charts(self):
        return {
            "trendBy": "week" if self.period.weekly else "day",
            "revenueTrend": [[day.isoformat(), cents / 100] for day, cents in self.revenue.trend.items()],
            "userGrowth": [[day.isoformat(), joined, first] for day, joined, first in self.growth.rows()],
            "ordersByStatus": [[status, n] for status, n in self.orders.by_status.items() if n],
            "packagePopularity": [[name, n] for name, n in self.orders.popularity],
        }


def shop_figures(zone, args):
    """The shop's part of the dashboard over the period the query string `args` asks for."""
    now = utcnow()
    period, notes = analytics.read_period(args.get("from"), args.get("to"), args.get("days"), zone, now)
    return ShopFigures(period=period, notes=notes, today=local_date(now, zone),
                       orders=analytics.summary(zone, now, period=period),
                       growth=analytics.growth(zone, period),
                       revenue=revenue.revenue(zone, period),
                       problems=reconciliation.problems(),
                       reconciliation_url=url_for("payments.reconciliation_view"),
                       token_price_usd=policy.current().token_price_usd)


# What each ChannelState name is part of, to leave out a channel since turned off.
SETTING_OF = {channels.TWILIO_WEBHOOKS: (channels.SMS, channels.WHATSAPP),
              **{name: (name,) for name in (*channels.LABELS, channels.IMAP)}}
SHOWN_AS = {**channels.LABELS, channels.EMAIL: "Email sending", channels.IMAP: "Email receiving",
            channels.TWILIO_WEBHOOKS: "Twilio webhooks", channels.OXAPAY_WEBHOOKS: "OxaPay webhooks"}


def failing_channels(settings):
    """The names of the channels (that are on) whose latest error is newer than their
    latest success."""
    def on(name):
        if name == channels.OXAPAY_WEBHOOKS:   # anyone may POST to it: refusals count with payments on
            return settings.payments_on
        return name not in SETTING_OF or any(settings.channel_on(c) for c in SETTING_OF[name])
    return [SHOWN_AS.get(name, name) for name, state in sorted(channels.states().items())
            if channels.failing(state) and on(name)]
