"""Telling the team about leads and each other: everyone who takes lead notifications
hears of a new lead (with Open, and Take it while nobody owns it); a member given a lead
gets its card, and one given a leaving member's work one list of it; whoever can give a
lead hears when someone asks for it; an admin hears when their invite is used. Nobody is
told what they did themselves: the creator of a lead, or who took it.

lead.created is handled after the rules (services/subscriptions.py), so the card names
the owner a rule gave the lead, and that owner hears once, from the assignment."""
from models import Invite, Lead, User
from services.chat import buttons
from services.chat.replies import keyboard
from services.core import events
from services.core.markup import h, quantity
from services.crm import leads
from services.crm.messages import lead_card, lead_command
from services.delivery import outbox


def register():
    events.subscribe("lead.created", on_lead_created)
    events.subscribe("lead.assigned", on_lead_assigned)
    events.subscribe("lead.requested", on_lead_requested)
    events.subscribe("work.handed_over", on_work_handed_over)
    events.subscribe("invite.accepted", on_invite_accepted)


def lead_buttons(lead_id, owned):
    """Open shows the lead; Take it makes the presser its owner (one winner)."""
    row = [("Open", buttons.encode("lead", action="open", lead_id=lead_id))]
    if not owned:
        row.append(("Take it", buttons.encode("lead", action="take", lead_id=lead_id)))
    return [row]


def on_lead_created(event):
    if not event.data.get("announce"):
        return ()
    lead = leads.get(event.entity_id)  # as the rules left it
    told_otherwise = [user_id for user_id in (lead.created_by_id, lead.owner_id) if user_id]
    owner = f"Owner: {h(lead.owner.display_name)}" if lead.owner_id else "Owner: nobody yet"
    outbox.enqueue_for(User.lead_recipients().where(User.id.not_in(told_otherwise)),
                       f"lead:{lead.id}:to:", f"{lead_card(lead, title='New lead')}\n{owner}",
                       reply_markup=keyboard(lead_buttons(lead.id, lead.owner_id is not None)))
    return ()


def on_lead_assigned(event):
    owner_id = event.changes.get("owner", (None, None))[1]
    if not event.data.get("tell", True) or owner_id is None or owner_id == event.actor.user_id:
        return ()
    member = User.get_or_none(User.id == owner_id)
    lead = Lead.get_or_none(Lead.id == event.entity_id)
    if member is None or lead is None:
        return ()
    by = event.actor.label
    text = (f"{lead_card(lead, title='Yours now: lead')}\n"
            f"Given to you by {h(by)}.")
    now = event.data.get("now")
    outbox.enqueue(f"assign:{lead.id}:{member.id}:{now.isoformat() if now else lead.assigned_at}",
                   member, text, reply_markup=keyboard(lead_buttons(lead.id, owned=True)))
    return ()


def on_lead_requested(event):
    """A member asked for a lead they may not see: whoever can give it gets a button to."""
    lead, asker, now = event.data["lead"], event.actor.user, event.data["now"]
    give = keyboard([[(f"Give it to {asker.display_name}"[:60],
                       buttons.encode("assign", lead_id=lead.id, member=asker.id))]])
    owner = f"{h(lead.owner.display_name)}'s" if lead.owner_id else "nobody's yet"
    for member in event.data["asked"]:
        whose = "your lead" if member.id == lead.owner_id else f"lead ({owner})"
        outbox.enqueue(f"ask:{lead.id}:{asker.id}:to:{member.id}:{now:%Y-%m-%d}", member,
                       f"🙋 {h(asker.display_name)} asks for {whose} #{lead.id} "
                       f"{h(lead.full_name)}.", reply_markup=give)
    return ()


HANDED_OVER_LISTED = 10   # leads named in the message; the rest are counted


def on_work_handed_over(event):
    """A member left the team: each new holder gets one message listing what they got."""
    left, now = event.data["member"], event.data["now"]
    for holder_id, work in event.data["given"].items():
        got = work["leads"]
        lines = [f"🔁 {h(left.display_name)} left the team; you now have "
                 f"{quantity(len(got), 'lead')} and {quantity(len(work['activities']), 'activity', 'activities')} "
                 "that were theirs."]
        lines += [f"{lead_command(lead.id)} {h(lead.full_name)}" for lead in got[:HANDED_OVER_LISTED]]
        if len(got) > HANDED_OVER_LISTED:
            lines.append(f"…and {len(got) - HANDED_OVER_LISTED} more: /leads lists them.")
        if work["activities"]:
            lines.append("/today shows the activities that are due.")
        outbox.enqueue(f"handover:{left.id}:{now.isoformat()}:to:{holder_id}", holder_id,
                       "\n".join(lines))
    return ()


def on_invite_accepted(event):
    """The admin who made the invite hears who joined with it."""
    invite = Invite.get_or_none(Invite.id == event.entity_id)
    joined = event.actor.user
    if invite is None or invite.created_by_id is None or invite.created_by_id == joined.id:
        return ()
    creator = User.get_or_none(User.id == invite.created_by_id)
    if creator is None or not creator.is_team or creator.unreachable:
        return ()
    outbox.enqueue(f"invite:{invite.id}:joined", creator,
                   f"👋 {h(joined.display_name)} joined the team with your invite, as "
                   f"<b>{invite.role}</b>.")
    return ()
