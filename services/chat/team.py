"""Team management in chat for admins: /invite and /team with buttons."""
from models import ROLES
from services.crm import team
from services.core.inputs import parse_id
from services.chat.replies import Reply
from services.core.markup import h


def invite(ctx, admin, args):
    role = args.strip().casefold() or team.DEFAULT_ROLE
    try:
        created = team.create_invite(admin, role)
    except team.TeamError as exc:
        return Reply(h(str(exc)))
    link = f"https://t.me/{ctx.bot_username}?start={created.token}"
    return Reply(f"Invite link for one new <b>{role}</b>, valid until "
                 f"{created.expires_at:%Y-%m-%d %H:%M} UTC:\n{h(link)}\n"
                 "Send it to the person you are inviting; it works once.")


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
        rows.append([(f"{member.display_name} ({member.role})"[:60], f"team:{member.id}")])
    lines.append("\nPress a member to change their role or remove them.")
    return Reply("\n".join(lines), rows, replace=replace)


def press(ctx, admin, data):
    """team:<id> shows choices; team:<id>:role:<role> and team:<id>:remove act."""
    member_text, _, action = data.partition(":")
    member_id = parse_id(member_text)
    if member_id is None:
        return Reply("That button is no longer valid.")
    try:
        if action == "":
            return _choices(member_id)
        if action == "remove":
            member = team.remove(admin, member_id, ctx.admin_ids)
            return Reply(f"{h(member.display_name)} is no longer on the team.", replace=True)
        if action.startswith("role:"):
            member = team.set_role(admin, member_id, action[5:], ctx.admin_ids)
            return Reply(f"{h(member.display_name)} is now <b>{member.role}</b>.", replace=True)
    except team.TeamError as exc:
        return Reply(h(str(exc)))
    if action == "back":
        return listing(replace=True)
    return Reply("That button is no longer valid.")


def _choices(member_id):
    member = team.get_member(member_id)
    roles = [(f"Make {role}", f"team:{member.id}:role:{role}") for role in ROLES if role != member.role]
    return Reply(f"{h(member.display_name)} is <b>{member.role}</b>.",
                 [roles, [("Remove from team", f"team:{member.id}:remove"),
                          ("◀ Back", f"team:{member.id}:back")]], replace=True)
