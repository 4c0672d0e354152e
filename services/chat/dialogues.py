"""Unfinished dialogues kept in the database, so they survive a bot restart.

A person has one dialogue at a time (one DialogueState row: its flow, the step it is
at and the answers so far). A Dialogue is one kind of them, stepped through in the
same way by each flow: /back, /cancel, and whether one is open.
"""
import dataclasses
import json
from typing import Any, Callable

from models import DialogueState, utcnow
from services.chat.replies import Reply

FIRST_QUESTION = "This is the first question."
NOTHING_TO_CANCEL = Reply("Nothing to cancel.")
_FLOWS = {}  # flow name -> its Dialogue, for current()


def get(user, flow):
    conversation = DialogueState.get_or_none(DialogueState.user == user)
    if conversation is None or conversation.flow != flow:
        return None
    return conversation


def data(conversation):
    return json.loads(conversation.data)


def save(user, flow, step, values):
    """Start or move on a dialogue (one per user: starting another replaces it)."""
    (DialogueState
     .insert(user=user, flow=flow, step=step, data=json.dumps(values), updated_at=utcnow())
     .on_conflict(conflict_target=[DialogueState.user],
                  update={DialogueState.flow: flow, DialogueState.step: step,
                          DialogueState.data: json.dumps(values),
                          DialogueState.updated_at: utcnow()})
     .execute())


def advance(conversation, step, values):
    """Move an existing dialogue on (cheaper than save())."""
    (DialogueState.update(step=step, data=json.dumps(values), updated_at=utcnow())
     .where(DialogueState.id == conversation.id).execute())


def end(user):
    DialogueState.delete().where(DialogueState.user == user).execute()


def current(user):
    """The Dialogue `user` is in the middle of, or None."""
    conversation = DialogueState.get_or_none(DialogueState.user == user)
    return None if conversation is None else _FLOWS.get(conversation.flow)


@dataclasses.dataclass(frozen=True, eq=False)
class Dialogue:
    """One kind of dialogue: questions asked one at a time, in the order of `steps`.

    `ask(step, values, note="")` is the flow's question for `step` as a Reply, with
    `note` (e.g. FIRST_QUESTION) said before it. /back goes to the previous step and
    drops its answer, the keys `answers[step]` of `values` (by default the step's
    name), so it is asked again. A step outside `steps` is a detour from the step
    `detours_from` (the wizard's "edit:<field>" from its summary): /back returns there
    with every answer kept.
    """
    flow: str
    steps: tuple
    ask: Callable
    inactive: Reply            # /back when no such dialogue is open
    cancelled: str             # what /cancel says once it ended one
    doing: str                 # "adding a lead": what someone in it is in the middle of
    answers: Any = dataclasses.field(default_factory=dict)
    detours_from: Any = None

    def __post_init__(self):
        _FLOWS[self.flow] = self

    def get(self, user):
        """`user`'s DialogueState in this dialogue, or None."""
        return get(user, self.flow)

    def is_active(self, user):
        return self.get(user) is not None

    def go(self, user, step, values):
        """Start the dialogue at `step` or move it there (replacing any other dialogue)."""
        save(user, self.flow, step, values)

    def end(self, user):
        end(user)

    def back(self, user):
        conversation = self.get(user)
        if conversation is None:
            return self.inactive
        step, values = conversation.step, data(conversation)
        if step not in self.steps:
            previous = self.detours_from or self.steps[0]
        elif step == self.steps[0]:
            return self.ask(step, values, FIRST_QUESTION)
        else:
            previous = self.steps[self.steps.index(step) - 1]
            for key in self.answers.get(previous, (previous,)):
                values.pop(key, None)
        advance(conversation, previous, values)
        return self.ask(previous, values)

    def cancel(self, user):
        if not self.is_active(user):
            return NOTHING_TO_CANCEL
        end(user)
        return Reply(self.cancelled)
