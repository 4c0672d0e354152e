"""Who may do what in the shop: admins (team role admin, or the panel) run it, operators
work the queue, a client (services.core.actors.Actor.client) acts only as their own lead."""
from models import Contact


def is_admin(actor):
    return actor.kind == "panel" or (
        actor.kind == "member" and actor.user is not None and actor.user.role == "admin")


def is_operator(actor):
    """Works the queue: an operator, or an admin (who may do everything operators do)."""
    return is_admin(actor) or (
        actor.kind == "member" and actor.user is not None and actor.user.role == "operator")


def client_lead_id(actor):
    """The lead a client actor is (by their Telegram contact), or None for anyone else."""
    if actor.kind != "client" or actor.user is None:
        return None
    return (Contact.select(Contact.lead)
            .where(Contact.kind == "telegram", Contact.value == str(actor.user.telegram_id))
            .order_by(Contact.id).scalar())
