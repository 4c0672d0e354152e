"""The scheduler process: delivers the outbox and runs the follow-up jobs on a
`schedule` loop.

Every SEND_INTERVAL_SECONDS it recovers abandoned claims and sends up to
SEND_BATCH_SIZE due messages. Every few seconds it runs the follow-up jobs whose
time slot has come (services/followups/jobs.py: due rule actions, reminders, stale
leads, the daily summary, cleanup). Run from the project root: `python scheduler.py`.
"""
import logging
import signal
import sys
import time

import schedule

from models import DatabaseUnavailable, bind, drop_connection, utcnow
from services import subscriptions
from services.core import policy
from services.core.config import ConfigError, load_settings
from services.delivery import outbox
from services.delivery.sender import DeliveryPolicy, deliver_batch
from services.delivery.telegram import TelegramTransport
from services.followups import jobs, periodic
from services.ops import heartbeat

log = logging.getLogger("leadgram.scheduler")
FOLLOWUP_CHECK_SECONDS = 10  # the finest job runs every minute


class Scheduler:
    def __init__(self, settings, transport, delivery=DeliveryPolicy(), clock=utcnow):
        self.settings, self.transport, self.delivery, self.clock = settings, transport, delivery, clock
        self.stopping = False
        self.followup_jobs = jobs.scheduled_jobs(settings)
        self.jobs = schedule.Scheduler()
        self.jobs.every(settings.send_interval_seconds).seconds.do(self.guarded, self.send_outbox)
        self.jobs.every(FOLLOWUP_CHECK_SECONDS).seconds.do(self.guarded, self.run_followups)

    def guarded(self, job):
        """A failing job is logged and tried again next time; the loop never dies."""
        try:
            job()
        except Exception:
            log.exception("job %s failed", job.__name__)
            drop_connection()

    def send_outbox(self):
        recovered = outbox.recover_stale(self.delivery.lease_seconds)
        if recovered:
            log.warning("recovered %d messages abandoned mid-send", recovered)
        expired = outbox.expire_replies()  # the bot's, should it be down for long
        if expired:
            log.warning("dropped %d bot replies that were never sent in time", expired)
        result = deliver_batch(self.transport, self.settings.send_batch_size, self.delivery,
                               stop=lambda: self.stopping)
        heartbeat.beat(heartbeat.SCHEDULER, f"sent={result.sent} retrying={result.retrying} "
                                  f"failed={result.failed}")
        if result.claimed:
            log.info("batch: %d claimed, %d sent, %d to retry, %d failed",
                     result.claimed, result.sent, result.retrying, result.failed)

    def announce(self):
        heartbeat.beat(heartbeat.SCHEDULER, "started")

    def run_followups(self):
        """Each job whose slot has come runs once, here or in another scheduler."""
        ran = periodic.run_due(self.followup_jobs, self.clock(), self.settings.timezone)
        for name, result in ran.items():
            if _did_something(result):  # a quiet minute logs nothing
                log.info("%s: %s", name, result)

    def run(self):
        self.guarded(self.announce)
        self.guarded(self.run_followups)  # catch up on what came due while we were down
        self.guarded(self.send_outbox)  # don't make a restart wait a whole interval
        while not self.stopping:
            self.jobs.run_pending()
            idle = self.jobs.idle_seconds
            time.sleep(min(max(idle if idle is not None else 1.0, 0.05), 1.0))
        log.info("stopped")


def _did_something(result):
    """Jobs return a count, or counts by kind."""
    return any(result.values()) if isinstance(result, dict) else bool(result)


def main(argv):
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s scheduler %(levelname)s %(message)s")
    try:
        settings = load_settings()
        settings.require_bot_token()
        bind(settings.database_url, settings.data_encryption_key)
        policy.configure(settings)
        subscriptions.register()
    except (ConfigError, DatabaseUnavailable, ValueError) as exc:
        print(f"Leadgram scheduler cannot start:\n{exc}", file=sys.stderr)
        return 2
    scheduler = Scheduler(settings, TelegramTransport(settings.telegram_api_url,
                                                      settings.bot_token))

    def stop(*_):
        scheduler.stopping = True  # finishes the message in hand, releases the rest
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("delivering every %ss, %d at a time", settings.send_interval_seconds,
             settings.send_batch_size)
    scheduler.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
