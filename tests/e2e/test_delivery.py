"""Delivery through the real scheduler process: limits, faults, races and crashes."""
import collections
import signal
import time

import pytest

import models
from models import Heartbeat, OutboxMessage, User
from services.crm import leads
from tests.conftest import fresh_postgres
from tests.e2e.conftest import ADMIN_ID, wait_until

pytestmark = pytest.mark.e2e


def team_of(size, first_id=2000):
    admin = User.create(telegram_id=ADMIN_ID, role="admin", first_name="Ada")
    members = [User.create(telegram_id=first_id + n, role="sales", first_name=f"M{n}")
               for n in range(size)]
    return admin, members


def add_leads(count):
    """Leads added in the panel: every member is told (a creator in chat would not be)."""
    return [leads.add_lead({"email": f"lead{n}@example.com", "phone": f"+1415555{2600 + n}",
                            "first_name": f"Lead{n}", "last_name": "Test", "country": "US"})
            for n in range(count)]


def deliveries(emulator):
    """(chat id, lead id) -> how many notifications Telegram accepted."""
    counts = collections.Counter()
    for message in emulator.sent_messages():
        if message["text"].startswith("New lead #"):
            lead_id = int(message["text"].split("#")[1].split()[0])
            counts[(message["chat"]["id"], lead_id)] += 1
    return counts


def all_sent():
    return OutboxMessage.select().where(OutboxMessage.status != "sent").count() == 0


def test_429_is_waited_out_and_the_message_delivered_exactly_once(processes, emulator):
    admin, [member] = team_of(1)
    for user in (admin, member):
        emulator.add_user(user.telegram_id)
    emulator.fail("sendMessage", 429, retry_after=2, times=1, chat_id=member.telegram_id)
    add_leads(1)
    processes.start("scheduler.py")
    wait_until(all_sent, message="every message sent")
    assert deliveries(emulator) == {(ADMIN_ID, 1): 1, (member.telegram_id, 1): 1}
    wait_until(lambda: "sent=" in Heartbeat.get_by_id("scheduler").detail, message="a heartbeat")
    attempts = [c for c in emulator.calls_to("sendMessage")
                if int(c.params["chat_id"]) == member.telegram_id]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.9


def test_blocked_member_is_not_retried_until_they_return(processes, emulator, chat_with):
    admin, [member] = team_of(1)
    emulator.add_user(ADMIN_ID)
    emulator.block(member.telegram_id)
    add_leads(1)
    processes.start("scheduler.py")
    wait_until(lambda: User.get_by_id(member.id).unreachable, message="member marked unreachable")
    row = OutboxMessage.get(OutboxMessage.recipient == member)
    assert row.status == "failed" and "blocked" in row.last_error
    leads.add_lead({"email": "two@example.com", "first_name": "Two"})
    wait_until(lambda: deliveries(emulator)[(ADMIN_ID, 2)] == 1)
    to_member = [c for c in emulator.calls_to("sendMessage")
                 if int(c.params["chat_id"]) == member.telegram_id]
    assert [c.status for c in to_member] == [403]  # tried once, never again
    # Writing to the bot again makes them reachable.
    processes.start("bot.py")
    chat_with(member.telegram_id).send("/start", replies=2)
    assert not User.get_by_id(member.id).unreachable


@pytest.fixture
def postgres_database_url(postgres_url):
    database = fresh_postgres(postgres_url)
    yield postgres_url
    database.close()


def test_two_schedulers_racing_on_postgres_send_each_message_once(postgres_database_url, emulator,
                                                                  tmp_path):
    from tests.e2e.conftest import Processes
    processes = Processes(emulator, postgres_database_url, tmp_path)
    try:
        admin, members = team_of(30)
        for user in [admin] + members:
            emulator.add_user(user.telegram_id)
        add_leads(4)  # 124 messages, 4 per chat
        for _ in range(2):
            processes.start("scheduler.py", SEND_BATCH_SIZE="10", SEND_INTERVAL_SECONDS="0.1")
        wait_until(all_sent, timeout=60, message="every message sent")
        counts = deliveries(emulator)
        assert len(counts) == 124 and set(counts.values()) == {1}
        holders = {m.claimed_by for m in OutboxMessage.select()}
        assert holders == {None}
        # Both really raced: each claimed some of the work.
        for scheduler in processes.running:
            assert " claimed, " in open(scheduler.log_path).read()
    finally:
        processes.stop_all()
        print(processes.output())


def test_scheduler_killed_mid_batch_loses_nothing(processes, emulator):
    admin, [member] = team_of(1)
    for user in (admin, member):
        emulator.add_user(user.telegram_id)
    add_leads(6)  # 6 per chat; the 1 s per-chat gap makes the batch take ~5 s
    first = processes.start("scheduler.py")
    wait_until(lambda: sum(deliveries(emulator).values()) >= 4, message="some messages sent")
    processes.kill(first, signal.SIGKILL)
    stuck = OutboxMessage.select().where(OutboxMessage.status == "sending").count()
    assert stuck > 0, "the kill should land mid-batch"
    processes.start("scheduler.py")
    wait_until(all_sent, timeout=30, message="every message sent after the restart")
    counts = deliveries(emulator)
    assert set(counts) == {(chat, lead) for chat in (ADMIN_ID, member.telegram_id)
                           for lead in range(1, 7)}
    # At most the one message in flight at the kill can be sent twice.
    assert sum(counts.values()) - len(counts) <= 1


def test_sigterm_stops_the_scheduler_cleanly(processes, emulator):
    admin, members = team_of(2)
    for user in [admin] + members:
        emulator.add_user(user.telegram_id)
    add_leads(5)
    scheduler = processes.start("scheduler.py")
    wait_until(lambda: sum(deliveries(emulator).values()) >= 2)
    beat = Heartbeat.get_by_id("scheduler")
    assert (models.utcnow() - beat.beat_at).total_seconds() < 5
    assert processes.kill(scheduler, signal.SIGTERM) == 0
    assert OutboxMessage.select().where(OutboxMessage.status == "sending").count() == 0
    assert "stopped" in open(scheduler.log_path).read()


def test_a_notification_queued_after_start_up_arrives_in_seconds_not_at_the_interval(
        processes_any_db, emulator):
    """SEND_INTERVAL_SECONDS paces a backlog; a lone new-lead alert goes when it is queued."""
    admin, [member] = team_of(1)
    for user in (admin, member):
        emulator.add_user(user.telegram_id)
    processes_any_db.start("scheduler.py", SEND_INTERVAL_SECONDS="30")
    wait_until(lambda: "sent=" in (Heartbeat.get_or_none(Heartbeat.name == "scheduler") or
                                   Heartbeat(detail="")).detail, message="the scheduler's first pass")
    add_leads(1)
    queued = time.monotonic()
    wait_until(lambda: any("Lead0" in m["text"] for m in emulator.sent_messages(member.telegram_id)),
               timeout=10, message="the new-lead alert, 30 s interval notwithstanding")
    assert time.monotonic() - queued < 10
