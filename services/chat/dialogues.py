"""Unfinished dialogues kept in the database, so they survive a bot restart."""
import json

from models import Conversation, utcnow


def get(user, flow):
    conversation = Conversation.get_or_none(Conversation.user == user)
    if conversation is None or conversation.flow != flow:
        return None
    return conversation


def data(conversation):
    return json.loads(conversation.data)


def save(user, flow, step, values):
    """Start or move on a dialogue (one per user: starting another replaces it)."""
    (Conversation
     .insert(user=user, flow=flow, step=step, data=json.dumps(values), updated_at=utcnow())
     .on_conflict(conflict_target=[Conversation.user],
                  update={Conversation.flow: flow, Conversation.step: step,
                          Conversation.data: json.dumps(values),
                          Conversation.updated_at: utcnow()})
     .execute())


def advance(conversation, step, values):
    """Move an existing dialogue on (cheaper than save())."""
    (Conversation.update(step=step, data=json.dumps(values), updated_at=utcnow())
     .where(Conversation.id == conversation.id).execute())


def end(user):
    Conversation.delete().where(Conversation.user == user).execute()
