"""Lead commands in chat: /leads (paged), /lead <id> with its timeline, /find <text>.

Sales members see only the leads they own; dispatchers and admins see all
(services.crm.access decides).
"""
from models import Lead
from services.chat import buttons
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.clock import local_time
from services.core.inputs import split_id
from services.core.markup import h
from services.core.policy import current as policy
from services.crm import activities, contacts, leads, pipeline
from services.crm.access import AccessDenied, require_lead
from services.crm.messages import NO_SUCH_LEAD, lead_card, lead_command, lead_line
from services.crm.scoring import RECOMMENDATIONS

TIMELINE_ENTRIES = 10
TIMELINE_DETAIL = 150  # characters of an activity's description shown on the card


def ask_for_id(command, example=""):
    return Reply(f"Send the lead's number, e.g. /{command} 12{example}.")


def page(user, number, replace=True):
    """Page `number` (0-based) of /leads; past the last one, the last."""
    actor = Actor.member(user)
    rows, current, pages = leads.recent(number, actor=actor)
    if not rows:
        if actor.sees_all:
            return Reply("No leads yet. /createLead adds the first one.")
        return Reply("You have no leads yet. /createLead adds one, or a dispatcher can "
                     "assign one to you.")
    mine = "" if actor.sees_all else ", yours"
    text = "\n".join([f"<b>Leads</b> (page {current + 1} of {pages}, newest first{mine})"]
                     + _lines(rows)
                     + ["", "Tap a lead's /lead_… to open it."])
    nav = []
    if current > 0:
        nav.append(("◀ Newer", buttons.encode("leads", page=current - 1)))
    if current + 1 < pages:
        nav.append(("Older ▶", buttons.encode("leads", page=current + 1)))
    return Reply(text, [nav] if nav else [], replace=replace)


def show(user, args):
    """The lead's card, pipeline details, latest score and timeline, with action buttons."""
    lead_id, _ = split_id(args)
    if lead_id is None:
        return ask_for_id("lead")
    actor = Actor.member(user)
    try:
        lead, entries = activities.timeline(actor, lead_id, limit=TIMELINE_ENTRIES)
    except LookupError as exc:
        return Reply(h(str(exc)))
    except AccessDenied:
        return someone_elses(Lead.get_by_id(lead_id))
    timezone = policy().timezone
    lines = [lead_card(lead), "", *details(lead), "", "<b>Timeline</b> (newest first)"]
    lines += [_entry(entry, timezone) for entry in entries] or ["Nothing yet. /log "
                                                                f"{lead.id} adds an activity."]
    rows = [[("Stage…", buttons.encode("stage", lead_id=lead.id)),
             ("Score", buttons.encode("score", lead_id=lead.id))],
            [("Log activity", buttons.encode("log", step="lead", lead_id=lead.id))]]
    if actor.assigns:
        rows[1].append(("Assign…", buttons.encode("assign", lead_id=lead.id)))
    if lead.owner_id is None:
        rows.insert(0, [("Take it", buttons.encode("lead", action="take", lead_id=lead.id))])
    return Reply("\n".join(lines), rows)


def details(lead):
    """Pipeline lines of a lead: stage, owner, source, domain, value, latest score."""
    stage = f"<b>{lead.stage}</b>"
    if pipeline.pipeline_of(lead) == "sales":
        stage += f", sale at <b>{lead.sales_stage}</b>"
    owner = h(lead.owner.display_name) if lead.owner_id else "nobody yet"
    lines = [f"Stage: {stage}", f"Owner: {owner}", f"Source: {lead.source}",
             f"Business domain: {h(lead.business_domain) if lead.business_domain else 'not set'}",
             f"Priority: {lead.priority} · value: {lead.value:.2f}"]
    score = pipeline.latest_score(lead.id)
    if score is not None:
        advice = RECOMMENDATIONS.get(score.recommendation, score.recommendation)
        lines.append(f"Score: <b>{score.score:.2f}</b> ({h(advice)}; "
                     f"{local_time(score.created_at, policy().timezone)})")
    return lines


def _entry(entry, timezone):
    headline, _, detail = entry.text.partition("\n")
    if len(detail) > TIMELINE_DETAIL:
        detail = detail[:TIMELINE_DETAIL - 1] + "…"
    who = f" — {h(entry.who)}" if entry.who else ""
    line = f"• {local_time(entry.at, timezone)} {h(entry.kind.replace('_', ' '))}: {h(headline)}{who}"
    return line + (f"\n  <i>{h(detail)}</i>" if detail else "")


def _lines(rows):
    reach = contacts.firsts([lead.id for lead in rows], ("email", "phone"))
    return [lead_line(lead, reach.get(lead.id, {})) for lead in rows]


def find(user, args):
    if len(args.strip()) < 2:
        return Reply("Send at least two characters to look for, e.g. /find smith.")
    found = leads.search(args, actor=Actor.member(user))
    if not found:
        return Reply(f"No leads match “{h(args)}”.")
    more = "" if len(found) < leads.MAX_SEARCH_RESULTS else f"\n(first {len(found)}; narrow the search for more)"
    return Reply(f"<b>Leads matching “{h(args)}”</b>\n"
                 + "\n".join(_lines(found)) + more)


def command_lead(actor, args, command, example=""):
    """For "/<command> <lead id> [rest]": (lead, rest, None) when `actor` may work on
    it, else (None, rest, a Reply asking for the number or saying why not)."""
    lead_id, rest = split_id(args)
    if lead_id is None:
        return None, rest, ask_for_id(command, example)
    lead, refusal = lead_or_refusal(actor, lead_id)
    return lead, rest, refusal


def lead_or_refusal(actor, lead_id):
    """(lead, None) when `actor` may work on it, else (None, a Reply saying why: for
    someone else's lead, whose it is and how to get it)."""
    try:
        return require_lead(actor, lead_id), None
    except LookupError as exc:
        return None, Reply(h(str(exc)))
    except AccessDenied:
        return None, someone_elses(Lead.get_by_id(lead_id))


def someone_elses(lead, intro=""):
    """A lead the member may not see: whose it is, with Take it when nobody owns it,
    else Ask for it (which asks its owner and the dispatchers)."""
    name = f"Lead #{lead.id} {h(lead.full_name)}"
    if lead.owner_id is None:
        return Reply(f"{intro}{name} has no owner yet: take it to work on it.",
                     [[("Take it", buttons.encode("lead", action="take", lead_id=lead.id))]])
    return Reply(f"{intro}{name} is {h(lead.owner.display_name)}'s. Ask for it, and they "
                 "or a dispatcher can give it to you.",
                 [[("Ask for it", buttons.encode("lead", action="ask", lead_id=lead.id))]])


def pressed(ctx, user, action, lead_id):
    """A lead notification's Open and Take it, and a refusal's Ask for it."""
    if action == "open":
        return show(user, str(lead_id))
    if action == "take":
        return _take(ctx, user, lead_id)
    return _ask_for(ctx, user, lead_id)


def _take(ctx, user, lead_id):
    if Lead.get_or_none(Lead.id == lead_id) is None:
        return Reply(h(NO_SUCH_LEAD.format(lead_id=lead_id)))
    owner = pipeline.take(Actor.member(user), lead_id, ctx.clock())
    if owner is None:
        card = show(user, str(lead_id))
        return Reply(f"✋ Lead #{lead_id} is yours now.\n\n{card.text}", card.buttons)
    if owner.id == user.id:
        return Reply(f"Lead #{lead_id} is already yours. {lead_command(lead_id)} shows it.")
    return Reply(f"{h(owner.display_name)} already took lead #{lead_id}.")


def _ask_for(ctx, user, lead_id):
    lead = Lead.get_or_none(Lead.id == lead_id)
    if lead is None:
        return Reply(h(NO_SUCH_LEAD.format(lead_id=lead_id)))
    if lead.owner_id == user.id:
        return Reply(f"Lead #{lead_id} is yours now. {lead_command(lead_id)} shows it.")
    asked = pipeline.request(Actor.member(user), lead.id, ctx.clock())
    if not asked:
        return Reply("There is nobody who can give it to you: no owner or dispatcher takes "
                     "notifications. Ask an admin.")
    names = ", ".join(h(member.display_name) for member in asked)
    return Reply(f"📨 Asked {names} to give you lead #{lead_id} {h(lead.full_name)}. "
                 "You will hear when it is yours.")
