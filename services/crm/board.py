"""The pipeline as a Kanban board (the panel's /board/): one board per pipeline, a column
per stage, a card per open lead (name, owner, value, next activity), filtered by owner
and source.

Built to stay quick with many open leads: each open column reads one page of cards
(CARDS_PER_COLUMN, newest activity first), every column's count and value come from one
grouped query (pipeline.stage_totals), and the cards' next activities from one more.
Final stages (lost, transferred, paid) are columns to drop a lead on, with their count
but no cards: their leads are no longer being worked.

A card moved to another column is `move`: the pipeline's own stage change, audited and
emitting lead.stage_changed like every other.
"""
from dataclasses import dataclass, field

from peewee import JOIN

from models import Activity, Lead, User
from services.crm import pipeline
from services.crm.access import visible_leads

FLOWS = {"lead": pipeline.LEAD_FLOW, "sales": pipeline.SALES_FLOW}
CARDS_PER_COLUMN = 50
CARD_FIELDS = (Lead.id, Lead.first_name, Lead.last_name, Lead.stage, Lead.sales_stage,
               Lead.source, Lead.priority, Lead.value, Lead.owner, Lead.last_activity_at)
Owner = User.alias()


@dataclass(frozen=True)
class Filters:
    owner: int = None      # a member's id: their leads only
    unowned: bool = False  # leads nobody owns only
    source: str = None


@dataclass
class Card:
    lead: Lead             # CARD_FIELDS, with .owner
    next_activity: Activity = None
    allowed: tuple = ()    # the stages the pipeline lets it move to next


@dataclass
class Column:
    stage: str
    count: int
    value: object          # Decimal: the leads' total value
    final: bool            # a place to drop leads, without cards
    cards: list = field(default_factory=list)
    offset: int = 0        # cards before these (a "48 more" page)

    @property
    def shown(self):
        """The cards up to the last of these: where the next page starts."""
        return self.offset + len(self.cards)

    @property
    def more(self):
        """Cards in this column after these."""
        return max(0, self.count - self.shown)


def stages(pipeline_name):
    return tuple(FLOWS[pipeline_name])


def is_final(pipeline_name, stage):
    return not FLOWS[pipeline_name][stage]


def _leads(actor, filters):
    query = visible_leads(actor)
    if filters.unowned:
        query = query.where(Lead.owner.is_null())
    elif filters.owner is not None:
        query = query.where(Lead.owner == filters.owner)
    if filters.source is not None:
        query = query.where(Lead.source == filters.source)
    return query


def _in_stage(pipeline_name, stage):
    if pipeline_name == "sales":
        return (Lead.stage == "transferred") & (Lead.sales_stage == stage)
    return Lead.stage == stage


def totals(actor, pipeline_name, filters):
    """{stage: (leads, total value)} of the board's columns, in one grouped query. On the
    lead board, "transferred" holds every lead the sales board has."""
    rows = pipeline.stage_totals(_leads(actor, filters))
    found = {stage: (count, value) for name, stage, count, value in rows if name == pipeline_name}
    if pipeline_name == "lead":
        sales = [(count, value) for name, _, count, value in rows if name == "sales"]
        found["transferred"] = (sum(c for c, _ in sales), sum(v for _, v in sales))
    return found


def _cards(actor, pipeline_name, stage, filters, offset, limit):
    rows = list(_leads(actor, filters).select(*CARD_FIELDS).select_extend(Owner)
                .join(Owner, JOIN.LEFT_OUTER, on=(Lead.owner == Owner.id))
                .where(_in_stage(pipeline_name, stage))
                .order_by(Lead.last_activity_at.desc(), Lead.id.desc())
                .offset(offset).limit(limit))
    return [Card(lead, allowed=pipeline.next_stages(lead)) for lead in rows]


def next_activities(lead_ids):
    """{lead id: its open activity due first} for these leads, in one query."""
    found = {}
    if not lead_ids:
        return found
    for activity in (Activity.select(Activity.id, Activity.lead, Activity.type,
                                     Activity.subject, Activity.due_at)
                     .where(Activity.lead.in_(lead_ids), Activity.completed_at.is_null())
                     .order_by(Activity.due_at.asc(nulls="LAST"), Activity.id)):
        found.setdefault(activity.lead_id, activity)
    return found


def _with_next_activities(cards):
    found = next_activities([card.lead.id for card in cards])
    for card in cards:
        card.next_activity = found.get(card.lead.id)
    return cards


def board(actor, pipeline_name, filters, limit=CARDS_PER_COLUMN):
    """The columns of one pipeline's board, each open one with its first `limit` cards."""
    counts = totals(actor, pipeline_name, filters)
    columns = []
    for stage in stages(pipeline_name):
        count, value = counts[stage]
        final = is_final(pipeline_name, stage)
        cards = [] if final or not count else _cards(actor, pipeline_name, stage, filters, 0, limit)
        columns.append(Column(stage, count, value, final, cards))
    _with_next_activities([card for column in columns for card in column.cards])
    return columns


def column(actor, pipeline_name, stage, filters, offset, limit=CARDS_PER_COLUMN):
    """One open column's cards from `offset` on ("48 more"); LookupError for a stage the
    board shows no cards in."""
    if stage not in FLOWS[pipeline_name] or is_final(pipeline_name, stage):
        raise LookupError(f"The {pipeline_name} board has no column of cards called {stage}.")
    count, value = totals(actor, pipeline_name, filters)[stage]
    cards = _with_next_activities(_cards(actor, pipeline_name, stage, filters, offset, limit))
    return Column(stage, count, value, False, cards, offset)


def move(actor, lead_id, to_stage):
    """A card dropped on another column: (the StageChange, the lead as it is now, who now
    owns it when a transfer handed it to a salesperson, else None)."""
    owner = None
    if to_stage == "transferred":
        change, owner = pipeline.transfer(actor, lead_id)
    else:
        change = pipeline.change_stage(actor, lead_id, to_stage)
    return change, Lead.get_by_id(lead_id), owner
