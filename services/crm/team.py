"""Who is on the team, with which role, and how people join."""
import datetime
import secrets

from peewee import IntegrityError

from models import ROLES, Invite, User, db, utcnow
from services.core import events
from services.core.actors import Actor
from services.core.search import fold
from services.crm import handover, messages
from services.crm.access import AccessDenied

INVITE_TTL = datetime.timedelta(days=2)
DEFAULT_ROLE = "sales"
# Whoever writes to the bot is registered by Leadgram itself, from what Telegram says.
TELEGRAM = Actor.system("telegram")


class TeamError(Exception):
    """A team change that cannot be made; the message says why."""


def register(telegram_id, username=None, first_name=None, last_name=None,
             admin_ids=frozenset()):
    """The User for a Telegram account, created or refreshed; writes only on change.

    Writing to the bot again also means the person can be reached again.
    """
    user = User.get_or_none(User.telegram_id == telegram_id)
    if user is None:
        try:
            with db.atomic():
                user = User.create(telegram_id=telegram_id, username=username,
                                   first_name=first_name, last_name=last_name)
                events.emit("user.created", TELEGRAM, "user", user.id, events.created(user))
        except IntegrityError:  # their first two messages arrived at once
            user = User.get(User.telegram_id == telegram_id)
    changes = {}
    for name, value in (("username", username), ("first_name", first_name),
                        ("last_name", last_name)):
        if getattr(user, name) != value:
            changes[name] = value
    if user.unreachable:
        changes.update(unreachable=False, unreachable_reason=None)
    if telegram_id in admin_ids and user.role != "admin":
        changes.update(role="admin", joined_at=user.joined_at or utcnow())
    if changes:
        with db.atomic():
            User.update(**changes).where(User.id == user.id).execute()
            events.emit("user.updated", TELEGRAM, "user", user.id, events.changed(user, changes))
        for name, value in changes.items():
            setattr(user, name, value)
    return user


def join_open_team(user):
    """OPEN_TEAM=true: everyone who starts the bot joins as sales (seed 000)."""
    if not user.is_team:
        _set_role(Actor.member(user), user, DEFAULT_ROLE)
        return True
    return False


def create_invite(admin, role=DEFAULT_ROLE, now=None):
    require_admin(admin)
    if role not in ROLES:
        raise TeamError(messages.UNKNOWN_ROLE.format(role=role, roles=", ".join(ROLES)))
    now = now or utcnow()
    # 16 bytes -> 22 URL-safe characters, within Telegram's 64-character start parameter.
    with db.atomic():
        invite = Invite.create(token=secrets.token_urlsafe(16), role=role, created_by=admin,
                               created_at=now, expires_at=now + INVITE_TTL)
        events.emit("invite.created", Actor.member(admin), "invite", invite.id,
                    events.created(invite), now=now)
    return invite


def accept_invite(user, token, now=None):
    """Join the team with an invite token; returns the role or raises TeamError."""
    now = now or utcnow()
    with db.atomic():
        invite = Invite.get_or_none(Invite.token == token)
        if invite is None:
            raise TeamError(messages.INVITE_INVALID)
        if invite.used_by_id is not None:
            if invite.used_by_id == user.id:
                return user.role
            raise TeamError(messages.INVITE_USED)
        if invite.expires_at < now:
            raise TeamError(messages.INVITE_EXPIRED)
        if user.is_team:
            raise TeamError(messages.ALREADY_ON_TEAM.format(role=user.role))
        # The WHERE makes a link usable once even if two people press it at once.
        taken = (Invite.update(used_by=user, used_at=now)
                 .where(Invite.id == invite.id, Invite.used_by.is_null()).execute())
        if not taken:
            raise TeamError(messages.INVITE_USED)
        joining = Actor.member(user)
        events.emit("invite.accepted", joining, "invite", invite.id,
                    {"used_by": (None, user.id), "used_at": (None, now)}, now=now)
        _set_role(joining, user, invite.role)
    return invite.role


def require_team(user):
    if not user.is_team:
        raise AccessDenied(messages.TEAM_ONLY)


def require_admin(user):
    if user.role != "admin":
        raise AccessDenied(messages.ADMINS_ONLY)


def members():
    return list(User.team())


def find_member(text, role=None):
    """The member (with `role`) that `text` names: their @username, or their name as
    shown, whatever the case and accents; None when nobody or more than one fits."""
    wanted = fold(text.strip().removeprefix("@"))
    found = [member for member in (User.team().where(User.role == role) if role else User.team())
             if wanted in (fold(member.username or ""), fold(member.display_name),
                           fold(member.first_name or ""))]
    return found[0] if len(found) == 1 else None


def set_role(admin, member_id, role, admin_ids=frozenset()):
    require_admin(admin)
    get_member(member_id)
    return change_role(Actor.member(admin), member_id, role, admin_ids)


def remove(admin, member_id, admin_ids=frozenset(), hand_to=handover.ROUND_ROBIN):
    require_admin(admin)
    get_member(member_id)
    return change_role(Actor.member(admin), member_id, None, admin_ids, hand_to)


def change_role(actor, member_id, role, admin_ids=frozenset(), hand_to=handover.ROUND_ROBIN):
    """Give a member another role, or take them off the team with None: then their open
    leads and activities go to `hand_to` (a member id) or round robin, in the same
    transaction (services/crm/handover.py).

    The caller has checked who asks: an admin in chat, or the panel's login.
    """
    if role is not None and role not in ROLES:
        raise TeamError(messages.UNKNOWN_ROLE.format(role=role, roles=", ".join(ROLES)))
    with db.atomic():
        member = User.get_or_none(User.id == member_id)
        if member is None:
            raise TeamError(messages.NEVER_STARTED)
        _guard_admin_change(member, role, admin_ids)
        leaving = role is None and member.is_team
        _set_role(actor, member, role)
        if leaving:
            handover.hand_over(actor, member, hand_to)
    return member


def set_notify(user, on):
    require_team(user)
    set_member_notify(Actor.member(user), user.id, on)
    user.notify = on


def set_member_notify(actor, member_id, on):
    _update_member(actor, member_id, "user.updated", notify=on)


def mark_reachable(actor, member_id):
    """The deployer says this chat works again (it also clears when they write)."""
    _update_member(actor, member_id, "user.updated", unreachable=False, unreachable_reason=None)


def _update_member(actor, member_id, event, **values):
    with db.atomic():
        member = User.get_or_none(User.id == member_id)
        if member is None:
            raise TeamError(messages.NEVER_STARTED)
        changes = events.changed(member, values)
        if changes:
            User.update(values).where(User.id == member_id).execute()
            events.emit(event, actor, "user", member_id, changes)


def get_member(member_id):
    member = User.get_or_none(User.id == member_id)
    if member is None or not member.is_team:
        raise TeamError(messages.NO_LONGER_ON_TEAM)
    return member


def _guard_admin_change(member, new_role, admin_ids):
    if member.role != "admin" or new_role == "admin":
        return
    if member.telegram_id in admin_ids:
        raise TeamError(messages.ADMIN_BY_SETTING.format(name=member.display_name))
    if User.team().where(User.role == "admin").count() <= 1:
        raise TeamError(messages.LAST_ADMIN)


def _set_role(actor, user, role):
    joined_at = (user.joined_at or utcnow()) if role else None
    values = {"role": role, "joined_at": joined_at}
    with db.atomic():
        User.update(values).where(User.id == user.id).execute()
        events.emit("user.role_changed", actor, "user", user.id, events.changed(user, values))
    user.role, user.joined_at = role, joined_at


def edit_member(actor, member_id, role, notify, admin_ids=frozenset()):
    """One edit of a person, as the panel's form makes it, all or nothing (one transaction):
    their role (None: off the team; the rules of change_role, which keep an admin) and
    whether they get lead notifications.

    The caller has checked who asks (the panel's login). Raises TeamError, and then
    nothing of the edit is saved. Returns the member.
    """
    with db.atomic():
        change_role(actor, member_id, role, admin_ids)
        set_member_notify(actor, member_id, bool(notify))
    return User.get_by_id(member_id)
