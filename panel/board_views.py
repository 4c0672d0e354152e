"""The pipeline board (/board/): Pipedrive's everyday view of the lead or the sales
pipeline, a column per stage and a card per open lead, filtered by owner and source
(services.crm.board reads it).

Every card carries a small "Move to…" form that posts /board/move, so moving works
without JavaScript and from the keyboard; static/kanban.js sends the same form (CSRF
token included) with fetch when a card is dragged, and reads the answer as JSON. The
move is the pipeline's own stage change; a refusal comes back with its reason.
"""
from flask import flash, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose

from models import SOURCES, utcnow
from panel.base import (
    NOBODY,
    login_required_view,
    member_options,
    panel_actor,
    query_number,
    shown,
    team_members,
)
from services.core.inputs import MAX_PAGE, parse_id, plain_text
from services.crm import board, pipeline
from services.crm.access import AccessDenied

TITLES = {"lead": "Lead pipeline", "sales": "Sales pipeline"}
# StageError is a ValueError; LookupError: no such lead.
REFUSALS = (AccessDenied, LookupError, ValueError)
MAX_STAGE = 40  # longer is no stage; the refusal quotes what was sent, this long at most


class BadMove(ValueError):
    """A move form that names no lead or stage; the message says what is missing."""


def _view_args(args):
    """(pipeline, Filters, problems) from a query string; what names nothing is left out
    and said in `problems`."""
    problems = []
    name = args.get("pipeline") or "lead"
    if name not in board.FLOWS:
        problems.append(f"{shown(name)} is not a pipeline; showing the lead pipeline.")
        name = "lead"
    owner_text, owner, unowned = args.get("owner") or "", None, False
    if owner_text == NOBODY:
        unowned = True
    elif owner_text:
        owner = parse_id(owner_text)
        if owner not in {member.id for member in team_members()}:
            problems.append(f"{shown(owner_text)} is not a team member; showing everyone's leads.")
            owner = None
    source = args.get("source") or None
    if source is not None and source not in SOURCES:
        problems.append(f"{shown(source)} is not a source; showing leads from every source.")
        source = None
    return name, board.Filters(owner=owner, unowned=unowned, source=source), problems


def _query(pipeline_name, filters):
    """The URL arguments that show this board again."""
    owner = NOBODY if filters.unowned else filters.owner
    return {"pipeline": pipeline_name, "owner": owner, "source": filters.source}


def _money(value):
    return f"{value or 0:,.2f}"


def _lead_key(text):
    if not text:
        raise BadMove("Say which lead to move: the form named none.")
    key = parse_id(text)
    if key is None:
        raise BadMove(f"There is no lead {shown(text)!r}.")
    return key


class BoardView(login_required_view(BaseView)):
    """/board/: the board; /board/column: more of one column; /board/move: a move."""

    def _page_values(self, pipeline_name, filters):
        query = _query(pipeline_name, filters)
        return {"pipeline_name": pipeline_name, "filters": filters, "titles": TITLES,
                "query": query, "owner_value": str(query["owner"] or ""),
                "stages": board.stages(pipeline_name), "money": _money, "now": utcnow()}

    @expose("/")
    def index(self):
        pipeline_name, filters, problems = _view_args(request.args)
        for problem in problems:
            flash(problem, "error")
        columns = board.board(panel_actor(), pipeline_name, filters)
        return self.render("kanban/board.html", columns=columns, sources=SOURCES,
                           owners=member_options((NOBODY, "Nobody")),
                           **self._page_values(pipeline_name, filters))

    @expose("/column")
    def column(self):
        """One column's next cards: a page of its own without JavaScript, else the cards
        kanban.js adds under the column's others."""
        pipeline_name, filters, problems = _view_args(request.args)
        for problem in problems:
            flash(problem, "error")
        offset = query_number("offset", 0, MAX_PAGE, "a card number", "showing the first cards")
        stage = plain_text(request.args.get("stage") or "")[:MAX_STAGE]
        try:
            found = board.column(panel_actor(), pipeline_name, stage, filters, offset)
        except LookupError as exc:
            flash(str(exc), "error")
            return redirect(url_for(".index", **_query(pipeline_name, filters)))
        return self.render("kanban/column.html", column=found, offset=offset,
                           **self._page_values(pipeline_name, filters))

    @expose("/move", methods=["POST"])
    def move(self):
        """Move a card. A browser's form post is answered with a message on the board;
        kanban.js asks for JSON: the message, and the lead's and the columns' new state."""
        pipeline_name, filters, _ = _view_args(request.args)
        to_stage = plain_text(request.form.get("stage") or "").strip()[:MAX_STAGE]
        try:
            lead_id = _lead_key(plain_text(request.form.get("lead_id") or "").strip())
            if not to_stage:
                raise BadMove("Choose the stage to move the lead to.")
            change, lead, owner = board.move(panel_actor(), lead_id, to_stage)
        except REFUSALS as exc:
            status = 400 if isinstance(exc, BadMove) else 404 if isinstance(exc, LookupError) else 409
            return self._answer(pipeline_name, filters, str(exc), status)
        message = f"Lead #{lead_id}: {change.from_stage} → {change.to_stage}."
        if owner is not None:
            message += f" It now belongs to {owner.display_name}."
        return self._answer(pipeline_name, filters, message, 200, lead={
            "pipeline": pipeline.pipeline_of(lead), "stage": pipeline.current_stage(lead),
            "allowed": list(pipeline.next_stages(lead))})

    def _answer(self, pipeline_name, filters, message, status, lead=None):
        if request.accept_mimetypes.best != "application/json":
            flash(message, "success" if status == 200 else "error")
            return redirect(url_for(".index", **_query(pipeline_name, filters)))
        answer = {"ok": status == 200, "message": message}
        if lead is not None:
            counts = board.totals(panel_actor(), pipeline_name, filters)
            answer["lead"] = lead
            answer["columns"] = {stage: {"count": count, "value": _money(value)}
                                 for stage, (count, value) in counts.items()}
        return jsonify(answer), status
