"""A member's command menu follows their role at once: a role changed in chat or in the
panel queues the new menu for their chat (an outbox row the sender turns into
setMyCommands; none when they leave, so the bot's default menu applies again), and a note
saying what changed."""
import json

from models import User, utcnow
from services.chat import router
from services.core import events
from services.core.policy import current as policy
from services.delivery import outbox


def register():
    events.subscribe("user.role_changed", on_role_changed)


def on_role_changed(event):
    before, role = event.changes.get("role", (None, None))
    member = User.get_or_none(User.id == event.entity_id)
    if member is None or before == role:
        return ()
    key = f"menu:{member.id}:{utcnow().isoformat()}:{role}"
    commands = router.menu(role, shop=policy().shop) if role else []
    outbox.enqueue(f"{key}:commands", member, "", commands=json.dumps(commands))
    if before is not None:  # joining has its own welcome
        note = (f"You are now on the team as <b>{role}</b>. /help shows what you can do."
                if role else "You are no longer on the team, so the team's commands are gone "
                "from your menu.")
        outbox.enqueue(f"{key}:note", member, note)
    return ()
