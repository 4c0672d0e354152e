"""The advisory score: the local model, and an OpenAI-style endpoint with its cache and
fallbacks (a tiny local HTTP server plays the LLM)."""
import datetime
import http.server
import json
import threading
import types

import pytest

from models import Activity, Lead, LeadScore, StageChange
from services.core.actors import Actor
from services.crm import scoring
from services.crm.llm import LlmClient
from services.crm.scoring import Signals, local_score

NOW = datetime.datetime(2026, 3, 2, 9, 0)
PANEL = Actor.panel()
SEED = Signals(source="partner", stage="qualified", message_count=12, has_business_domain=True,
               business_domain="fintech", days_since_created=5)


# The local model ------------------------------------------------------------------------

def test_the_seed_example_scores_0_78_and_recommends_transfer():
    result = local_score(SEED, min_score=0.6)
    assert (result.score, result.recommendation, result.model) == (0.78, "transfer_to_sales", "local")
    assert result.reason == ("base +0.10, partner source +0.20, qualified stage +0.20, 12 activities done +0.15, "
                             "business domain set +0.15, 5 days old -0.02 = 0.78")


def test_the_reason_lists_only_the_weights_that_counted():
    result = local_score(Signals("other", "new", 0, False, "", 2), min_score=0.6)
    assert (result.score, result.reason) == (0.1, "base +0.10 = 0.10")
    result = local_score(Signals("website", "contacted", 2, False, "", 10), min_score=0.6)
    assert result.reason == ("base +0.10, website source +0.10, contacted stage +0.10, 2 activities done +0.03, "
                             "10 days old -0.07 = 0.26")


def test_the_reason_names_what_it_counts_activities_done_singular_or_plural():
    one = local_score(Signals("referral", "new", 1, False, "", 0), min_score=0.6)
    assert one.reason == "base +0.10, referral source +0.15, 1 activity done +0.01 = 0.26"
    assert "message" not in local_score(SEED, min_score=0.6).reason


@pytest.mark.parametrize("signals, recommendation", [
    (Signals("partner", "new", 0, True, "x", 0), "contact"),
    (Signals("partner", "contacted", 0, True, "x", 0), "qualify"),
    (Signals("partner", "qualified", 12, False, "", 0), "set_business_domain"),
    (Signals("other", "qualified", 0, True, "x", 40), "nurture"),
    (Signals("partner", "lost", 12, True, "x", 0), "no_action"),
    (Signals("partner", "transferred", 12, True, "x", 0), "no_action"),
])
def test_recommendations(signals, recommendation):
    assert local_score(signals, min_score=0.6).recommendation == recommendation


def test_the_score_is_clamped_to_0_and_1(monkeypatch):
    old = local_score(Signals("other", "new", 0, False, "", 400), min_score=0.6)
    assert (old.score, old.reason) == (0.0, "base +0.10, 400 days old -0.20 = 0.00")
    monkeypatch.setattr(scoring, "BASE", 0.9)
    assert local_score(SEED, min_score=0.6).score == 1.0


def test_the_minimum_score_decides_transfer_or_nurture():
    assert local_score(SEED, min_score=0.79).recommendation == "nurture"
    assert local_score(SEED, min_score=0.78).recommendation == "transfer_to_sales"


def seed_lead(make_lead):
    lead = make_lead(source="partner", stage="qualified", business_domain="fintech",
                     created_at=NOW - datetime.timedelta(days=5, hours=1))
    for n, kind in enumerate(["call", "email", "meeting", "quote_sent", "follow_up", "call"] * 2):
        Activity.create(lead=lead, type=kind, subject=f"message {n}", completed_at=NOW, created_at=NOW)
    # The team's own notes, planned calls and stage changes are not messages.
    Activity.create(lead=lead, type="note", subject="Assigned to Sam", completed_at=NOW, created_at=NOW)
    Activity.create(lead=lead, type="call", subject="planned", due_at=NOW, created_at=NOW)
    Activity.create(lead=lead, type="status_change", subject="not a message", created_at=NOW)
    return lead


def test_scoring_a_lead_stores_the_score_and_leaves_the_stage_alone(any_db, make_lead):
    lead = seed_lead(make_lead)
    assert scoring.signals(lead, NOW) == SEED
    row = scoring.score_lead(PANEL, lead.id, now=NOW)
    assert (row.score, row.recommendation, row.model, row.created_at) == (0.78, "transfer_to_sales", "local", NOW)
    assert LeadScore.get_by_id(row.id).reason.endswith("= 0.78")
    assert Lead.get_by_id(lead.id).stage == "qualified"
    assert StageChange.select().count() == 0


# The LLM ----------------------------------------------------------------------------------

class FakeLlm:
    """An OpenAI-style chat completions endpoint on 127.0.0.1 whose answer tests set."""

    def __init__(self):
        self.status, self.content, self.hang = 200, None, False
        self.requests = []
        self.release = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((dict(self.headers), body))
                if fake.hang:
                    fake.release.wait(10)  # longer than the client's timeout
                reply = json.dumps({"choices": [{"message": {"role": "assistant",
                                                              "content": fake.content}}]}).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/chat/completions"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, **fields):
        self.content = json.dumps(fields)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm():
    fake = FakeLlm()
    fake.answer(score=0.91, recommendation="transfer_to_sales", reason="Warm partner lead,  clear domain.")
    yield fake
    fake.close()


def settings_for(url, timeout=2.0):
    return types.SimpleNamespace(llm_api_url=url, llm_api_key="sk-test", llm_model="tiny-model",
                                 llm_timeout_seconds=timeout)


def test_a_valid_llm_answer_is_used(any_db, make_lead, llm):
    lead = seed_lead(make_lead)
    row = scoring.score_lead(PANEL, lead.id, settings=settings_for(llm.url), now=NOW)
    assert (row.score, row.recommendation, row.reason, row.model) == \
        (0.91, "transfer_to_sales", "Warm partner lead, clear domain.", "llm:tiny-model")
    [(headers, body)] = llm.requests
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "tiny-model"
    assert json.loads(body["messages"][1]["content"]) == {
        "source": "partner", "stage": "qualified", "message_count": 12, "has_business_domain": True,
        "business_domain": "fintech", "days_since_created": 5}
    assert Lead.get_by_id(lead.id).stage == "qualified"  # advice only
    assert StageChange.select().count() == 0


def test_the_llm_answer_is_reused_for_an_hour_while_the_signals_stay_the_same(any_db, make_lead, llm):
    lead = seed_lead(make_lead)
    client = LlmClient(llm.url, model="tiny-model", timeout=2)
    first = scoring.score_lead(PANEL, lead.id, now=NOW, client=client)
    again = scoring.score_lead(PANEL, lead.id, now=NOW + datetime.timedelta(minutes=59), client=client)
    assert again.id == first.id and len(llm.requests) == 1
    later = scoring.score_lead(PANEL, lead.id, now=NOW + datetime.timedelta(minutes=61), client=client)
    assert later.id != first.id and len(llm.requests) == 2
    Activity.create(lead=lead, type="call", subject="one more", completed_at=NOW, created_at=NOW)
    changed = scoring.score_lead(PANEL, lead.id, now=NOW + datetime.timedelta(minutes=62), client=client)
    assert changed.id != later.id and len(llm.requests) == 3
    assert json.loads(llm.requests[-1][1]["messages"][1]["content"])["message_count"] == 13


@pytest.mark.parametrize("setup, why", [
    (lambda fake: setattr(fake, "status", 500), "HTTP 500"),
    (lambda fake: setattr(fake, "content", "I would say 0.8, transfer them."),
     "its answer was not the JSON asked for"),
    (lambda fake: fake.answer(score=1.7, recommendation="qualify", reason="very keen"), "score 1.7 is outside 0..1"),
    (lambda fake: fake.answer(score=0.5, recommendation="buy_now", reason="keen"),
     "unknown recommendation 'buy_now'"),
    (lambda fake: fake.answer(score=0.5, recommendation="qualify", reason="  "), "it gave no reason"),
    (lambda fake: fake.answer(score="high", recommendation="qualify", reason="keen"),
     "its answer was not the JSON asked for"),
    (lambda fake: setattr(fake, "hang", True), "no answer (ReadTimeout)"),
], ids=["http-500", "prose", "score-1.7", "unknown-recommendation", "no-reason", "score-not-a-number",
        "timeout"])
def test_any_llm_failure_falls_back_to_the_local_model_and_says_so(any_db, make_lead, llm, setup, why):
    setup(llm)
    lead = seed_lead(make_lead)
    row = scoring.score_lead(PANEL, lead.id, settings=settings_for(llm.url, timeout=0.5), now=NOW)
    assert (row.score, row.recommendation, row.model) == (0.78, "transfer_to_sales", "local")
    assert row.reason == ("base +0.10, partner source +0.20, qualified stage +0.20, 12 activities done +0.15, "
                          f"business domain set +0.15, 5 days old -0.02 = 0.78 (local model: the LLM failed: {why})")
    assert len(llm.requests) == 1
    assert Lead.get_by_id(lead.id).stage == "qualified"


def test_a_fallback_is_not_cached(any_db, make_lead, llm):
    llm.status = 500
    lead = seed_lead(make_lead)
    scoring.score_lead(PANEL, lead.id, settings=settings_for(llm.url), now=NOW)
    llm.status = 200
    row = scoring.score_lead(PANEL, lead.id, settings=settings_for(llm.url), now=NOW + datetime.timedelta(minutes=1))
    assert (row.model, len(llm.requests)) == ("llm:tiny-model", 2)


def test_an_llm_nobody_answers_at_falls_back(any_db, make_lead):
    fake = FakeLlm()
    url = fake.url
    fake.close()  # nothing listens on that port now
    lead = seed_lead(make_lead)
    row = scoring.score_lead(PANEL, lead.id, settings=settings_for(url), now=NOW)
    assert row.model == "local"
    assert row.reason.endswith("(local model: the LLM failed: no answer (ConnectionError))")


def test_without_an_llm_url_nothing_is_asked(any_db, make_lead, llm):
    lead = seed_lead(make_lead)
    row = scoring.score_lead(PANEL, lead.id, settings=settings_for(""), now=NOW)
    assert row.model == "local" and llm.requests == []
