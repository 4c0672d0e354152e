"""Team management in chat for admins: /invite and /team with buttons."""
from models import ROLES
from services.chat import buttons
from services.chat.replies import Reply
from services.core.markup import h, quantity
from services.crm import handover, team


def invite(ctx, admin, args):
    role = args.strip().casefold() or team.DEFAULT_ROLE
    try:
        created = team.create_invite(admin, role)
    except team.TeamError as exc:
        return Reply(h(str(exc)))
    link = f"https://t.me/{ctx.bot_username}?start={created.token}"
    return Reply(f"Invite link for {ROLE_NOUNS[role]}, valid until "
                 f"{created.expires_at:%Y-%m-%d %H:%M} UTC:\n{h(link)}\n"
                 "Send it to the person you are inviting; it works once.")


# "Invite link for a new salesperson": the role as a person, with its article.
ROLE_NOUNS = {"admin": "a new <b>admin</b>", "dispatcher": "a new <b>dispatcher</b>",
              "sales": "a new <b>salesperson</b>", "operator": "a new <b>operator</b>"}


def listing(replace=False):
    rows = []
    lines = ["<b>Team</b>"]
    for member in team.members():
        flags = []
        if not member.notify:
            flags.append("notifications off")
        if member.unreachable:
            flags.append("unreachable")
        extra = f" ({', '.join(flags)})" if flags else ""
        lines.append(f"• {h(member.display_name)} — {member.role}{extra}")
        rows.append([(f"{member.display_name} ({member.role})"[:60],
                      buttons.encode("team", member_id=member.id))])
    lines.append("\nPress a member to change their role or remove them.")
    return Reply("\n".join(lines), rows, replace=replace)


def press(ctx, admin, member_id, action=None, role=None, hand_to=None):
    """team:<id> shows choices; team:<id>:remove asks to confirm, and who takes over the
    member's work; team:<id>:remove:<member>|rr, team:<id>:role:<role> and
    team:<id>:back act."""
    try:
        if action is None:
            return _choices(member_id)
        if action == "remove" and hand_to is None:
            return _confirm_removal(admin, member_id)
        if action == "remove":
            to = handover.ROUND_ROBIN if hand_to == buttons.ROUND_ROBIN else hand_to
            member = team.remove(admin, member_id, ctx.admin_ids, to)
            return Reply(f"{h(member.display_name)} is no longer on the team. Whoever got "
                         "their leads and activities has been told.", replace=True)
        if action == "role":
            member = team.set_role(admin, member_id, role, ctx.admin_ids)
            return Reply(f"{h(member.display_name)} is now <b>{member.role}</b>.", replace=True)
    except team.TeamError as exc:
        return Reply(h(str(exc)))
    return listing(replace=True)  # back


def _confirm_removal(admin, member_id):
    member = team.get_member(member_id)
    leads, activities = handover.counts(member.id)
    back = ("✖️ Keep them", buttons.encode("team", member_id=member.id, action="back"))
    question = f"Remove {h(member.display_name)} from the team?"
    if not leads and not activities:
        return Reply(f"{question} They have no open leads or activities.",
                     [[("Yes, remove", buttons.encode("team", member_id=member.id, action="remove",
                                                      hand_to=buttons.ROUND_ROBIN)), back]],
                     replace=True)
    others = [m for m in team.members() if m.id != member.id and m.role != "operator"]
    rows = [[("Share them out (round robin)", buttons.encode(
        "team", member_id=member.id, action="remove", hand_to=buttons.ROUND_ROBIN))]]
    rows += [[(f"All to {m.display_name} ({m.role})"[:60], buttons.encode(
        "team", member_id=member.id, action="remove", hand_to=m.id))] for m in others]
    rows.append([back])
    return Reply(f"{question} They have {quantity(leads, 'open lead')} and "
                 f"{quantity(activities, 'open activity', 'open activities')}. "
                 "Who takes them over?", rows, replace=True)


def _choices(member_id):
    member = team.get_member(member_id)
    roles = [(f"Make {role}", buttons.encode("team", member_id=member.id, action="role", role=role))
             for role in ROLES if role != member.role]
    return Reply(f"{h(member.display_name)} is <b>{member.role}</b>.",
                 [roles, [("Remove from team", buttons.encode("team", member_id=member.id, action="remove")),
                          ("◀ Back", buttons.encode("team", member_id=member.id, action="back"))]],
                 replace=True)
