"""The index page: today's figures and three charts (Chart.js, served from /static)."""
from flask import current_app
from flask_admin import AdminIndexView, expose

from panel.base import login_required_view
from services.ops import dashboard


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
        return self.render("dashboard.html", summary=summary, charts=charts,
                           timezone=settings.timezone,
                           stale_after=dashboard.stale_after(settings))
