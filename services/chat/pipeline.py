"""Pipeline commands in chat: /stage, /score, /transfer, /assign, /domain and /source.

Stage buttons carry the stage they were offered from ("stage:<id>:<pipeline>:<from>:<to>"),
so a button pressed after the lead moved on is answered with its current choices
instead of moving it again.
"""
from models import SOURCES
from services.chat import buttons
from services.chat.leads import command_lead, lead_or_refusal
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.markup import h
from services.crm import pipeline, scoring, team
from services.crm.access import AccessDenied

ROUND_ROBIN = buttons.ROUND_ROBIN


# /stage --------------------------------------------------------------------------

def stage(ctx, user, args):
    lead, _, refusal = command_lead(Actor.member(user), args, "stage")
    return refusal or stage_choices(lead)


def stage_choices(lead, intro="", replace=False):
    """Where the lead is, and one button per stage it may move to next."""
    name = f"Lead #{lead.id} {h(lead.full_name)}"
    where = (f"{name} was transferred; its sale is at <b>{lead.sales_stage}</b>"
             if pipeline.pipeline_of(lead) == "sales" else f"{name} is <b>{lead.stage}</b>")
    allowed = pipeline.next_stages(lead)
    if not allowed:
        return Reply(f"{intro}{where}, which is final: it cannot move on.", replace=replace)
    offered = {"lead_id": lead.id, "offered_in": pipeline.pipeline_of(lead),
               "offered_from": pipeline.current_stage(lead)}
    return Reply(f"{intro}{where}. Move it to:",
                 [[(to, buttons.encode("stage", **offered, to=to)) for to in allowed]],
                 replace=replace)


def press_stage(ctx, user, lead_id, offered_in=None, offered_from=None, to=None):
    """stage:<id> shows the choices; stage:<id>:<pipeline>:<from>:<to> moves the lead."""
    actor = Actor.member(user)
    lead, refusal = lead_or_refusal(actor, lead_id)
    if refusal:
        return refusal
    if to is None:
        return stage_choices(lead)
    if (pipeline.pipeline_of(lead), pipeline.current_stage(lead)) != (offered_in, offered_from):
        return stage_choices(lead, intro="That button is out of date: the lead has moved on "
                                         "since. ", replace=True)
    gated = to == "transferred" and to in pipeline.next_stages(lead)
    problems = pipeline.transfer_problems(lead) if gated else []
    if problems:
        return _transfer_refused(lead, problems)
    try:
        change = pipeline.change_stage(actor, lead.id, to, now=ctx.clock())
    except pipeline.StageError as exc:
        return stage_choices(lead, intro=f"{h(str(exc))}\n\n", replace=True)
    return _moved(lead, change)


def _moved(lead, change):
    text = (f"✅ Lead #{lead.id} {h(lead.full_name)} moved from <b>{change.from_stage}</b> "
            f"to <b>{change.to_stage}</b>.")
    if change.to_stage == "transferred":
        text += " Its sale starts at <b>new</b>."
    return Reply(text + f"\n/stage {lead.id} shows the next steps.", replace=True)


# /score and /transfer ------------------------------------------------------------

def score(ctx, user, args):
    actor = Actor.member(user)
    lead, _, refusal = command_lead(actor, args, "score")
    return refusal or _score(ctx, actor, lead)


def press_score(ctx, user, lead_id):
    """score:<id>, the Score button of /lead."""
    actor = Actor.member(user)
    lead, refusal = lead_or_refusal(actor, lead_id)
    return refusal or _score(ctx, actor, lead)


def _score(ctx, actor, lead):
    row = scoring.score_lead(actor, lead.id, settings=ctx.settings, now=ctx.clock())
    advice = scoring.RECOMMENDATIONS.get(row.recommendation, row.recommendation)
    hint = {"transfer_to_sales": f"\n/transfer {lead.id} transfers it.",
            "set_business_domain": f"\n/domain {lead.id} &lt;what they do&gt; sets it."
            }.get(row.recommendation, "")
    return Reply(f"<b>Lead #{lead.id} {h(lead.full_name)}: score {row.score:.2f}</b>\n"
                 f"Recommendation: {h(advice)}{hint}\n"
                 f"Why: {h(row.reason)}\n"
                 f"Model: {h(row.model)}\n"
                 "<i>The score is advisory: it changes nothing by itself.</i>")


def transfer(ctx, user, args):
    """/transfer 12 [salesperson]: to sales, and to that salesperson or the next one."""
    actor = Actor.member(user)
    lead, named, refusal = command_lead(actor, args, "transfer")
    if refusal:
        return refusal
    if pipeline.pipeline_of(lead) == "sales":
        return Reply(f"Lead #{lead.id} is already transferred; its sale is at "
                     f"<b>{lead.sales_stage}</b>. /stage {lead.id} moves it on.")
    if not pipeline.next_stages(lead):  # lost: no advice can make it transferable
        return Reply(f"Lead #{lead.id} {h(lead.full_name)} is <b>{lead.stage}</b>, which is "
                     f"final: it cannot be transferred. /lead {lead.id} shows its history.")
    problems = pipeline.transfer_problems(lead)
    if problems:
        return _transfer_refused(lead, problems)
    to_member = "round_robin"
    if named:
        salesperson = team.find_member(named, role="sales")
        if salesperson is None:
            return _no_such_salesperson(lead, named)
        to_member = salesperson.id
    try:
        change, owner = pipeline.transfer(actor, lead.id, to_member, now=ctx.clock())
    except pipeline.StageError as exc:  # something changed since the check above
        return Reply(h(str(exc)))
    moved = _moved(lead, change)
    if owner is None:
        return Reply(f"{moved.text}\nNobody in sales can take it (no reachable salesperson), "
                     "so it stays with its owner. /assign gives it to someone.")
    told = "" if owner.id == user.id else " They have been told."
    return Reply(f"{moved.text}\n🤝 It is now {h(owner.display_name)}'s.{told}")


def _no_such_salesperson(lead, named):
    names = ", ".join(h(member.display_name) for member in team.members()
                      if member.role == "sales") or "nobody yet"
    return Reply(f"“{h(named)}” is not a salesperson on the team. Salespeople: {names}.\n"
                 f"Send /transfer {lead.id} to give it to the next one, or "
                 f"/transfer {lead.id} &lt;name&gt;.")


def _transfer_refused(lead, problems):
    lines = [f"Lead #{lead.id} {h(lead.full_name)} cannot be transferred yet:"]
    lines += [f"• {h(problem)}" for problem in problems]
    lines.append(f"\n/stage {lead.id}, /score {lead.id} and /domain {lead.id} "
                 "&lt;what they do&gt; help with that.")
    return Reply("\n".join(lines))


# /assign ---------------------------------------------------------------------------

def _require_assigner(actor):
    if not actor.assigns:
        raise AccessDenied("Only dispatchers and admins assign leads.")


def assign(ctx, user, args):
    actor = Actor.member(user)
    _require_assigner(actor)
    lead, _, refusal = command_lead(actor, args, "assign")
    return refusal or _assign_choices(lead)


def _assign_choices(lead):
    owner = f"it is {h(lead.owner.display_name)}'s now" if lead.owner_id else "it has no owner yet"
    rows = [[(f"{'✓ ' if member.id == lead.owner_id else ''}{member.display_name} "
              f"({member.role})"[:60], buttons.encode("assign", lead_id=lead.id, member=member.id))]
            for member in team.members()]
    rows.append([("Round robin", buttons.encode("assign", lead_id=lead.id, member=ROUND_ROBIN))])
    return Reply(f"Who should work lead #{lead.id} {h(lead.full_name)}? ({owner})", rows)


def press_assign(ctx, user, lead_id, member=None):
    """assign:<id> shows the team; assign:<id>:<member id>|rr gives the lead away."""
    actor = Actor.member(user)
    lead, refusal = lead_or_refusal(actor, lead_id)
    if refusal:
        return refusal
    if lead.owner_id != user.id or member is None:  # an owner may give theirs to who asked
        _require_assigner(actor)
    if member is None:
        return _assign_choices(lead)
    member_id = "round_robin" if member == ROUND_ROBIN else member
    member = pipeline.assign(actor, lead.id, member_id, now=ctx.clock())
    told = "" if member.id == user.id else " They have been told."
    return Reply(f"✅ Lead #{lead.id} {h(lead.full_name)} is now "
                 f"{h(member.display_name)}'s.{told}", replace=True)


# /domain and /source -------------------------------------------------------------

def domain(ctx, user, args):
    return _set_detail(user, args, "domain", "business_domain", "business domain",
                       "dental clinics", "what they do")


def source(ctx, user, args):
    return _set_detail(user, args, "source", "source", "source", "referral",
                       " | ".join(SOURCES))


def _set_detail(user, args, command, field, label, example, choices):
    actor = Actor.member(user)
    lead, value, refusal = command_lead(actor, args, command, f" {example}")
    if refusal:
        return refusal
    if not value:
        now = getattr(lead, field)
        return Reply(f"Lead #{lead.id}'s {label} is {f'<b>{h(now)}</b>' if now else 'not set'}.\n"
                     f"Send /{command} {lead.id} &lt;{h(choices)}&gt;, e.g. "
                     f"/{command} {lead.id} {example}.")
    try:
        lead = pipeline.set_details(actor, lead.id, **{field: value})
    except ValueError as exc:
        return Reply(h(str(exc)))
    return Reply(f"✅ Lead #{lead.id} {h(lead.full_name)}: {label} is now "
                 f"<b>{h(getattr(lead, field))}</b>.")
