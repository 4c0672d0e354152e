"""Follow-up rules and activities (issue 4): evaluating 100 active rules against one event,
the whole automation.run_rules path with those rules in the database, and the overdue query
over 100,000 activities, per backend."""
import datetime
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from peewee import fn

from common import note, percentile, say, schema_stamp
from outbox_speed import postgres_backend, sqlite_backend

import models  # noqa: E402
from models import Activity, FollowUpRule, Lead, LeadScore, User, db  # noqa: E402
from services.crm import activities
from services.followups import automation, matching as rule_matching, rule_lines, rules

TARGET_MATCHING_MS = 1.0      # 100 active rules against one event; median
TARGET_OVERDUE_MS = 20.0      # the overdue query over 100,000 activities; median
RULES = 100
MATCH_RUNS, EMIT_RUNS, QUERY_RUNS = 5000, 300, 200
TEAM_SIZE = 50
FIRST_MEMBER_ID = 900001
LEADS = 20_000
OPEN_SHARE = 0.30
PAGE = 50
# Dataset times are relative to this instant and the queries ask "overdue at NOW", so a
# cached file never goes stale.
NOW = datetime.datetime(2026, 3, 2, 9, 0)
CACHE_DIR = Path(tempfile.gettempdir()) / "leadgram_bench_cache"
DATA_VERSION = 2                # bump when the dataset below changes: the cache is keyed by it
EVENT = "lead.stage_changed"
# The event every rule is checked against: a website lead at qualified, just moved there.
CONTEXT = {"source": "website", "stage": "qualified", "sales_stage": None, "priority": "high",
           "business_domain": "Fintech lending", "country": "GB", "value": 12500.0, "score": 0.72,
           "days_since_created": 6.5, "owner": 3, "activities_done_since_event": 0,
           "pipeline": "lead", "from_stage": "contacted", "to_stage": "qualified"}
# Condition lines rules are built from (lead.stage_changed may use every field).
CONDITION_LINES = (
    lambda r: f"source equals {r.choice(models.SOURCES)}",
    lambda r: "stage not_in lost, transferred",
    lambda r: f"to_stage equals {r.choice(models.LEAD_STAGES + models.SALES_STAGES)}",
    lambda r: f"from_stage in {', '.join(r.sample(models.LEAD_STAGES, 2))}",
    lambda r: f"pipeline equals {r.choice(('lead', 'sales'))}",
    lambda r: "priority in high, urgent",
    lambda r: f"value greater_than {r.randrange(1000, 50_000, 500)}",
    lambda r: f"score greater_than {r.choice((0.4, 0.5, 0.6, 0.7, 0.8))}",
    lambda r: f"business_domain contains {r.choice(('tech', 'bank', 'retail', 'lending'))}",
    lambda r: f"days_since_created less_than {r.choice((3, 7, 14, 30))}",
    lambda r: "owner is_present",
    lambda r: "business_domain is_not_present",
    lambda r: f"country in {', '.join(r.sample(('US', 'GB', 'DE', 'FR', 'UA', 'PL'), 3))}",
    lambda r: f"sales_stage equals {r.choice(models.SALES_STAGES)}",
)


def rule_texts(count=RULES, seed=3):
    """(conditions text, actions text, priority) for `count` rules of 1-3 conditions,
    each with one delayed action (so emit stores it but runs nothing)."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        lines = [make(rng) for make in rng.sample(CONDITION_LINES, rng.choice((1, 2, 2, 3, 3)))]
        action = rng.choice((f'create_activity call "Follow-up {n}" after {rng.choice((1, 2, 24))}h',
                             f"send_notification stage_changed to lead_owner after {rng.choice((30, 90))}m",
                             f'create_activity email "Send the next step {n}" assign round_robin after 1d'))
        made.append(("\n".join(lines), action, rng.randrange(1, 200)))
    return made


def in_memory_rules():
    return [rules.Rule(id=n + 1, name=f"rule {n + 1}", event=EVENT,
                       conditions=rule_lines.parse_conditions(conditions, EVENT),
                       actions=rule_lines.parse_actions(actions), priority=priority)
            for n, (conditions, actions, priority) in enumerate(rule_texts())]


def timed(action, runs, warm_ups=5):
    for _ in range(warm_ups):
        action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.median(samples), percentile(samples, 0.95)


def bench_matching():
    say(f"\n== rules: {RULES} active rules against one {EVENT} event, in memory ==")
    candidates = in_memory_rules()
    conditions = sum(len(r.conditions) for r in candidates)
    matched = rule_matching.matching(candidates, CONTEXT)
    median, p95 = timed(lambda: rule_matching.matching(candidates, CONTEXT), MATCH_RUNS)
    say(f"rule_matching.matching: {RULES} rules, {conditions} conditions, {len(matched)} match; "
        f"{MATCH_RUNS} runs: median {median:.3f} ms, p95 {p95:.3f} ms")
    note(f"{RULES} rules matched in memory ms, median", "-", f"{median:.3f} ms (p95 {p95:.3f})",
         f"<= {TARGET_MATCHING_MS:g} ms", median <= TARGET_MATCHING_MS)


def bench_emit(backend):
    """automation.run_rules for one stage change with RULES rules in the database, in a
    transaction as change_stage runs it: load the rules, build the context, match,
    store a RuleAction per action of each match."""
    FollowUpRule.delete().execute()  # only the bench's rules (the defaults are seeded)
    for n, (conditions, actions, priority) in enumerate(rule_texts()):
        FollowUpRule.create(name=f"bench rule {n + 1}", event=EVENT, priority=priority,
                            conditions=json.dumps(rule_lines.parse_conditions(conditions, EVENT)),
                            actions=json.dumps(rule_lines.parse_actions(actions)))
    owner = User.create(telegram_id=FIRST_MEMBER_ID - 1, first_name="Owner", role="sales")
    lead = Lead.create(first_name="Emma", last_name="Emit", country="GB", source="website",
                       stage="qualified", priority="high", business_domain="Fintech lending",
                       value=12500, owner=owner,
                       created_at=NOW - datetime.timedelta(days=6, hours=12))
    LeadScore.create(lead=lead, score=CONTEXT["score"], recommendation="transfer_to_sales", reason="bench",
                     model="local", signature="bench", created_at=NOW)
    fields = {"pipeline": "lead", "from_stage": "contacted", "to_stage": "qualified"}

    def emit():
        with db.atomic():
            return automation.run_rules(EVENT, lead, fields, now=NOW)

    stored = len(emit())
    median, p95 = timed(emit, EMIT_RUNS)
    say(f"{backend}: automation.run_rules with {RULES} rules in the database ({stored} actions stored "
        f"per event, all delayed); {EMIT_RUNS} runs: median {median:.2f} ms, p95 {p95:.2f} ms")
    note(f"automation.run_rules, {RULES} rules in DB ms, median", backend, f"{median:.2f} ms (p95 {p95:.2f})")
    Lead.delete().where(Lead.id == lead.id).execute()  # its RuleActions go with it
    User.delete().where(User.id == owner.id).execute()


def build_activities(rows):
    """TEAM_SIZE members, LEADS leads and `rows` activities over the 60 days before NOW
    and the 14 after; OPEN_SHARE of them still open, most of those past due."""
    rng = random.Random(42)
    with db.atomic():
        User.insert_many([(FIRST_MEMBER_ID + i, f"Member{i}", ("admin", "dispatcher")[i % 2] if i < 4 else "sales",
                           NOW, NOW) for i in range(TEAM_SIZE)],
                         fields=[User.telegram_id, User.first_name, User.role, User.joined_at,
                                 User.created_at]).execute()
        members = [uid for (uid,) in User.select(User.id).where(User.telegram_id >= FIRST_MEMBER_ID).tuples()]
        for start in range(0, LEADS, 1000):
            Lead.insert_many([("Lead", f"N{n}", "US",
                               rng.choice(models.SOURCES), rng.choice(members),
                               NOW - datetime.timedelta(days=90 * n / LEADS))
                              for n in range(start, min(start + 1000, LEADS))],
                             fields=[Lead.first_name, Lead.last_name, Lead.country, Lead.source,
                                     Lead.owner, Lead.created_at]).execute()
        first_lead = Lead.select(fn.MIN(Lead.id)).scalar()
        kinds = ("call",) * 5 + ("email",) * 3 + ("meeting", "follow_up", "quote_sent", "note")
        batch = []
        for n in range(rows):
            kind = rng.choice(kinds)
            due = NOW + datetime.timedelta(minutes=rng.randrange(-60 * 1440, 14 * 1440))
            is_open = kind != "note" and rng.random() < OPEN_SHARE / (11 / 12)
            who = rng.choice(members) if rng.random() < 0.95 else None
            batch.append((first_lead + rng.randrange(LEADS), kind, f"{kind} {n}", who, who,
                          due, due, None if is_open else min(due, NOW),
                          None if is_open else who,
                          None if is_open else rng.choice(models.OUTCOMES),
                          due - datetime.timedelta(days=2)))
            if len(batch) == 1000 or n == rows - 1:
                Activity.insert_many(batch, fields=[
                    Activity.lead, Activity.type, Activity.subject, Activity.assigned_to, Activity.created_by,
                    Activity.scheduled_at, Activity.due_at, Activity.completed_at, Activity.completed_by,
                    Activity.outcome, Activity.created_at]).execute()
                batch = []
    db.execute_sql("ANALYZE")  # Postgres: as autovacuum would soon; SQLite: statistics for the planner


def cached_sqlite(rows):
    """The SQLite dataset, built once per size (its times are fixed, so it never goes stale)."""
    CACHE_DIR.mkdir(exist_ok=True)
    path = CACHE_DIR / f"followups_v{DATA_VERSION}_{schema_stamp()}_{rows}.db"
    if path.exists():
        say(f"sqlite: dataset from the cache, {path}")
        return f"sqlite:///{path}"
    building = path.with_suffix(".building")
    for old in CACHE_DIR.glob(f"followups_v*_{rows}.*"):  # older schemas', a build that did not finish
        if old != path:
            old.unlink()
    started = time.monotonic()
    models.bind(f"sqlite:///{building}")
    build_activities(rows)
    db.close()  # the last connection checkpoints the WAL into the file
    building.rename(path)
    say(f"sqlite: dataset built in {time.monotonic() - started:.1f} s, cached as {path}")
    return f"sqlite:///{path}"


def plan(query):
    sql, params = query.sql()
    if models.is_postgres():
        return [line for (line,) in db.execute_sql("EXPLAIN " + sql, params).fetchall()]
    return [row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


def bench_overdue(backend, rows):
    total = Activity.select().count()
    still_open = activities.open_activities().count()
    overdue = activities.overdue(NOW).count()
    member = (Activity.select(Activity.assigned_to).where(Activity.assigned_to.is_null(False))
              .order_by(Activity.id).first().assigned_to_id)
    per_member = (Activity.select(Activity.assigned_to, fn.COUNT(Activity.id))
                  .where(Activity.completed_at.is_null(), Activity.due_at < NOW)
                  .group_by(Activity.assigned_to))
    say(f"{backend}: {total:,} activities, {still_open:,} open ({100 * still_open / total:.0f} %), "
        f"{overdue:,} overdue at {NOW:%Y-%m-%d %H:%M}")
    queries = [
        ("overdue, first page", activities.overdue(NOW).limit(PAGE), TARGET_OVERDUE_MS),
        ("overdue of one member, first page", activities.overdue(NOW, member).limit(PAGE), TARGET_OVERDUE_MS),
        ("overdue count per member", per_member, TARGET_OVERDUE_MS),
    ]
    for name, query, target in queries:
        found = len(list(query.tuples()))
        median, p95 = timed(lambda query=query: list(query.tuples()), QUERY_RUNS)
        say(f"{backend}: {name:<34} {found:>4} rows; median {median:6.2f} ms, p95 {p95:6.2f} ms")
        for line in plan(query):
            say(f"{backend}:     plan: {line}")
        note(f"{name} ms, median ({rows // 1000}k activities)", backend,
             f"{median:.2f} ms (p95 {p95:.2f})", f"<= {target:g} ms", median <= target)


def bench_followups(rows):
    bench_matching()
    for backend, make in (("sqlite", sqlite_backend), ("postgres", postgres_backend)):
        source = make()
        try:
            url = next(source)
            if not url.startswith(("sqlite", "postgres")):
                say(f"\n{backend}: {url}")
                note("emit / overdue", backend, "skipped (reason above)", "", None)
                continue
            say(f"\n== automation.emit and the overdue query over {rows:,} activities, {backend} ==")
            models.bind(url)
            bench_emit(backend)
            if backend == "sqlite":
                db.close()
                models.bind(cached_sqlite(rows))
            else:
                started = time.monotonic()
                build_activities(rows)
                say(f"postgres: dataset built in {time.monotonic() - started:.1f} s")
            bench_overdue(backend, rows)
            db.close()
        finally:
            source.close()
