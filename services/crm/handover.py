"""A member leaving the team hands over their work: their open leads (Lead.open: not
lost, no sale paid) and their open activities go to one chosen member, or one by one by round robin
over the reachable salespeople. An activity on a lead that changed hands follows the
lead's new owner.

Runs in the caller's transaction (taking the member off the team). Each lead's change is
lead.assigned (audited, rules), without the per-lead message; one work.handed_over event
then tells each new holder what they got, in one message (services/chat/lead_alerts.py).
"""
from models import Activity, Lead, User, utcnow
from services.core import events
from services.crm import messages
from services.crm.access import AccessDenied
from services.crm.pipeline import round_robin

ROUND_ROBIN = "round_robin"


def open_work(member_id):
    """The member's (open leads query, open activities query)."""
    leads = Lead.open().where(Lead.owner == member_id).order_by(Lead.id)
    activities = Activity.select().where(Activity.assigned_to == member_id,
                                         Activity.completed_at.is_null()).order_by(Activity.id)
    return leads, activities


def counts(member_id):
    leads, activities = open_work(member_id)
    return leads.count(), activities.count()


def hand_over(actor, member, to=ROUND_ROBIN, now=None):
    """Give `member`'s open work to `to` (a member id) or by round robin; returns
    {new holder's id: {"leads": [Lead…], "activities": [Activity…]}}."""
    now = now or utcnow()
    chosen = None
    if to != ROUND_ROBIN:
        chosen = User.get_or_none(User.id == to)
        if chosen is None or not chosen.is_team or chosen.id == member.id:
            raise AccessDenied(messages.NOT_ON_TEAM)
    leads, activities = open_work(member.id)
    given, new_owner = {}, {}
    rotation = round_robin()  # one read of the team (the leaving member is off it already)
    for lead in leads:
        holder = chosen or next(rotation, None)
        if holder is None or holder.id == member.id:
            break  # nobody left on the team: the leads wait for an admin
        values = {"owner": holder.id, "assigned_at": now}
        Lead.update(values).where(Lead.id == lead.id).execute()
        events.emit("lead.assigned", actor, "lead", lead.id, events.changed(lead, values),
                    now=now, tell=False)
        new_owner[lead.id] = holder
        given.setdefault(holder.id, {"leads": [], "activities": []})["leads"].append(lead)
    for activity in activities:
        holder = new_owner.get(activity.lead_id) or chosen or next(rotation, None)
        if holder is None or holder.id == member.id:
            break
        values = {"assigned_to": holder.id}
        Activity.update(values).where(Activity.id == activity.id).execute()
        events.emit("activity.updated", actor, "activity", activity.id,
                    events.changed(activity, values), now=now)
        given.setdefault(holder.id, {"leads": [], "activities": []})["activities"].append(activity)
    if given:
        events.emit("work.handed_over", actor, "user", member.id, now=now, member=member,
                    given=given)
    return given
