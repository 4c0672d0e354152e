"""Who is acting, and what they may see and change (seed 003's visibility rules).

Sales members see and change only the leads they own and the activities
assigned to them; dispatchers, admins, the admin panel and rules see all.
"""
from models import Activity, Lead
from services.crm import messages


class AccessDenied(Exception):
    """The actor may not see or do this; the message says what to ask for."""



def visible_leads(actor, query=None):
    query = Lead.select() if query is None else query
    if actor.sees_all:
        return query
    return query.where(Lead.owner == actor.user_id)


def require_lead(actor, lead_id):
    """The lead, if it exists and `actor` may see and change it."""
    lead = Lead.get_or_none(Lead.id == lead_id)
    if lead is None:
        raise LookupError(messages.NO_SUCH_LEAD.format(lead_id=lead_id))
    if not actor.sees_all and lead.owner_id != actor.user_id:
        raise AccessDenied(messages.NOT_YOUR_LEAD.format(lead_id=lead_id))
    return lead


def visible_activities(actor, query=None):
    query = Activity.select() if query is None else query
    if actor.sees_all:
        return query
    return query.where(Activity.assigned_to == actor.user_id)


def require_activity(actor, activity_id):
    activity = Activity.get_or_none(Activity.id == activity_id)
    if activity is None:
        raise LookupError(messages.NO_SUCH_ACTIVITY.format(activity_id=activity_id))
    if not actor.sees_all and activity.assigned_to_id != actor.user_id:
        raise AccessDenied(messages.NOT_YOUR_ACTIVITY.format(activity_id=activity_id))
    return activity
