"""Team management in chat for admins: /invite and /team with buttons."""
from models import ROLES
from services.chat import buttons
from services.chat.replies import Reply
from services.core.markup import h
from services.crm import team


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


def press(ctx, admin, member_id, action=None, role=None):
    """team:<id> shows choices; team:<id>:role:<role>, team:<id>:remove and team:<id>:back act."""
    try:
        if action is None:
            return _choices(member_id)
        if action == "remove":
            member = team.remove(admin, member_id, ctx.admin_ids)
            return Reply(f"{h(member.display_name)} is no longer on the team.", replace=True)
        if action == "role":
            member = team.set_role(admin, member_id, role, ctx.admin_ids)
            return Reply(f"{h(member.display_name)} is now <b>{member.role}</b>.", replace=True)
    except team.TeamError as exc:
        return Reply(h(str(exc)))
    return listing(replace=True)  # back


def _choices(member_id):
    member = team.get_member(member_id)
    roles = [(f"Make {role}", buttons.encode("team", member_id=member.id, action="role", role=role))
             for role in ROLES if role != member.role]
    return Reply(f"{h(member.display_name)} is <b>{member.role}</b>.",
                 [roles, [("Remove from team", buttons.encode("team", member_id=member.id, action="remove")),
                          ("◀ Back", buttons.encode("team", member_id=member.id, action="back"))]],
                 replace=True)
