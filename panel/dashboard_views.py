"""The index page: today's figures and three charts (Chart.js, served from /static); with
the shop on (SHOP), its figures and two more charts below them."""
from flask import current_app
from flask_admin import AdminIndexView, expose

from panel.base import login_required_view
from services.core import policy
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
                           timezone=settings.timezone,
                           stale_after=dashboard.stale_after(settings))
