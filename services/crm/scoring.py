"""Advisory lead score (seed 004): a number in [0, 1], a recommendation and the reason.

The local model is a sum of visible weights, so the reason lists exactly what
counted. When LLM_API_URL is set, an OpenAI-compatible chat endpoint may score
instead (services/crm/llm.py): its answer is checked, reused for an hour
while the signals stay the same, and any failure falls back to the local model.
The score only advises: it never changes a lead's stage.
"""
import datetime
import hashlib
import json
from dataclasses import asdict, dataclass

from models import Activity, LeadScore, db, utcnow
from services.core import events
from services.core.policy import current as policy
from services.crm import llm
from services.crm.access import require_lead

RECOMMENDATIONS = {
    "transfer_to_sales": "transfer to sales",
    "set_business_domain": "set the business domain, then transfer",
    "qualify": "qualify the lead",
    "contact": "contact the lead",
    "nurture": "keep nurturing; not ready",
    "no_action": "no action: the lead is closed",
}
BASE = 0.10
SOURCE_WEIGHTS = {"partner": 0.20, "referral": 0.15, "website": 0.10, "telegram": 0.05, "other": 0.0}
STAGE_WEIGHTS = {"new": 0.0, "contacted": 0.10, "qualified": 0.20}
PER_ACTIVITY, MAX_ACTIVITIES = 0.015, 10
DOMAIN_WEIGHT = 0.15
FRESH_DAYS, PER_OLD_DAY, MAX_AGE_PENALTY = 3, 0.01, 0.20
LLM_CACHE = datetime.timedelta(hours=1)
INTERACTIONS = ("call", "email", "meeting", "quote_sent", "follow_up")


@dataclass(frozen=True)
class Signals:
    """What the score is computed from (seed 004's list)."""
    source: str
    stage: str
    message_count: int          # completed calls, emails, meetings, quotes and follow-ups
    has_business_domain: bool
    business_domain: str
    days_since_created: int

    def signature(self):
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Score:
    score: float
    recommendation: str
    reason: str
    model: str = "local"


def signals(lead, now=None):
    """The lead's signals. Notes are the team's own, so only completed interactions
    with the lead count (`message_count`, the name the LLM is given: seed 004's list);
    the reason calls them activities done."""
    now = now or utcnow()
    messages = (Activity.select().where(Activity.lead == lead.id,
                                        Activity.type.in_(INTERACTIONS),
                                        Activity.completed_at.is_null(False))
                .count())
    domain = (lead.business_domain or "").strip()
    return Signals(source=lead.source, stage=lead.stage, message_count=messages,
                   has_business_domain=bool(domain), business_domain=domain,
                   days_since_created=max(0, (now - lead.created_at).days))


def recommend(score, s, min_score):
    if s.stage in ("transferred", "lost"):
        return "no_action"
    if s.stage == "new":
        return "contact"
    if s.stage == "contacted":
        return "qualify"
    if score >= min_score:
        return "transfer_to_sales" if s.has_business_domain else "set_business_domain"
    return "nurture"


def local_score(s, min_score=None):
    """The transparent model: every weight that counted is in the reason."""
    min_score = policy().transfer_min_score if min_score is None else min_score
    parts = [("base", BASE),
             (f"{s.source} source", SOURCE_WEIGHTS.get(s.source, 0.0)),
             (f"{s.stage} stage", STAGE_WEIGHTS.get(s.stage, 0.0)),
             ("1 activity done" if s.message_count == 1 else f"{s.message_count} activities done",
              PER_ACTIVITY * min(s.message_count, MAX_ACTIVITIES)),
             ("business domain set" if s.has_business_domain else "no business domain",
              DOMAIN_WEIGHT if s.has_business_domain else 0.0)]
    old_days = max(0, s.days_since_created - FRESH_DAYS)
    parts.append((f"{s.days_since_created} days old",
                  -min(MAX_AGE_PENALTY, PER_OLD_DAY * old_days)))
    parts = [(label, round(weight, 2)) for label, weight in parts]  # the reason adds up
    total = round(min(1.0, max(0.0, sum(weight for _, weight in parts))), 2)
    reason = ", ".join(f"{label} {weight:+.2f}" for label, weight in parts if weight) + f" = {total:.2f}"
    return Score(total, recommend(total, s, min_score), reason)


def score_lead(actor, lead_id, settings=None, now=None, client=None):
    """Score a lead, store the score and return the LeadScore row.

    `settings` with an llm_api_url uses the LLM (or `client`, for tests);
    without, or when it fails, the local model.
    """
    now = now or utcnow()
    lead = require_lead(actor, lead_id)
    s = signals(lead, now)
    signature = s.signature()
    result = None
    if client is None and settings is not None and settings.llm_api_url:
        client = llm.LlmClient.from_settings(settings)
    if client is not None:
        cached = (LeadScore.select()
                  .where(LeadScore.lead == lead.id, LeadScore.signature == signature,
                         LeadScore.model != "local", LeadScore.created_at > now - LLM_CACHE)
                  .order_by(LeadScore.created_at.desc()).first())
        if cached is not None:
            return cached
        try:
            result = Score(*client.score(asdict(s), tuple(RECOMMENDATIONS)))
        except llm.LlmUnavailable as exc:
            fallback = local_score(s)
            result = Score(fallback.score, fallback.recommendation,
                           f"{fallback.reason} (local model: the LLM failed: {exc})")
    result = result or local_score(s)
    with db.atomic():
        row = LeadScore.create(lead=lead, score=result.score, recommendation=result.recommendation,
                               reason=result.reason, model=result.model, signature=signature,
                               created_at=now)
        events.emit("lead.scored", actor, "lead_score", row.id, events.created(row), now=now)
    return row
