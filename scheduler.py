"""The scheduler process: delivers the outbox on every channel, works through what
providers told us, polls the mailbox and runs the follow-up jobs on a `schedule` loop.

Notifications and messages to clients (Telegram, email, SMS, WhatsApp) go out as soon as
they are queued (a wakeup: Postgres NOTIFY, or a poll on SQLite), SEND_BATCH_SIZE per
SEND_INTERVAL_SECONDS at most (services/delivery/prompt.py); Twilio's webhooks, stored by
admin.py, are handled at the same wakeup (services/inbox/inbound.py). Every
SEND_INTERVAL_SECONDS it also recovers abandoned claims, drops the bot's expired replies,
retries inbound events that failed, sends what the budget allows and beats. Every
IMAP_POLL_SECONDS it takes new mail from the IMAP mailbox, when one is set up; with
OxaPay set up, it asks about pending payments whose webhook may be lost; with the shop on,
every minute it tells customers whose Premium ends within 3 days or has ended. Every few
seconds it runs the follow-up jobs whose time slot has come (services/followups/jobs.py:
due rule actions, reminders, stale leads, the daily summary, cleanup). Run from the
project root: `python scheduler.py`.
"""
import collections
import logging
import signal
import sys

import schedule

from models import DatabaseUnavailable, bind, drop_connection, utcnow
from services import subscriptions
from services.core import policy
from services.core.config import ConfigError, load_settings
from services.delivery import mailbox, outbox, wakeup
from services.delivery.channels import CHANNELS, IMAP, Transports, off_reason
from services.delivery.prompt import Budget, Prompt
from services.delivery.sender import DeliveryPolicy, deliver_batch
from services.delivery.telegram import TelegramTransport
from services.followups import jobs, periodic
from services.inbox import email_in, inbound
from services.ops import heartbeat
from services.payments import polling
from services.shop import premium

log = logging.getLogger("leadgram.scheduler")
FOLLOWUP_CHECK_SECONDS = 10  # the finest job runs every minute
PAYMENT_CHECK_SECONDS = 30   # which payments are due to be asked about (services/payments/polling.py)
PREMIUM_ALERT_SECONDS = 60   # Premium ending soon or ended (services/shop/premium.py)


class Scheduler:
    def __init__(self, settings, transport, delivery=DeliveryPolicy(), clock=utcnow):
        self.settings, self.transport, self.delivery, self.clock = settings, transport, delivery, clock
        self.stopping = False
        self.prompt = Prompt(self.send_due, Budget(settings.send_batch_size,
                                                   settings.send_interval_seconds),
                             wakeup.for_database(due=_work_due))
        self.since_beat = collections.Counter()  # the batches' outcomes, for the heartbeat
        self.followup_jobs = jobs.scheduled_jobs(settings)
        self.jobs = schedule.Scheduler()
        self.jobs.every(settings.send_interval_seconds).seconds.do(self.guarded, self.send_outbox)
        self.jobs.every(FOLLOWUP_CHECK_SECONDS).seconds.do(self.guarded, self.run_followups)
        if settings.channel_on(IMAP):
            self.jobs.every(settings.imap_poll_seconds).seconds.do(self.guarded, self.poll_mailbox)
        if settings.payments_on:
            every = min(PAYMENT_CHECK_SECONDS, settings.payment_poll_seconds)
            self.jobs.every(every).seconds.do(self.guarded, self.check_payments)
        if settings.shop:
            self.jobs.every(PREMIUM_ALERT_SECONDS).seconds.do(self.guarded, self.send_premium_alerts)

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
        inbound.process_pending(now=self.clock())   # retries too
        self.prompt.send()  # what no wakeup announced: retries come due, rows recovered
        done, self.since_beat = self.since_beat, collections.Counter()
        heartbeat.beat(heartbeat.SCHEDULER, f"sent={done['sent']} retrying={done['retrying']} "
                                  f"failed={done['failed']}")

    def send_due(self, limit):
        """What providers told us since the last pass, then up to `limit` due messages, as
        the budget allows (self.prompt)."""
        handled = inbound.process_pending(now=self.clock(), retries=False)
        if handled:
            log.info("handled %d inbound messages and delivery reports", handled)
        result = deliver_batch(self.transport, limit, self.delivery, stop=lambda: self.stopping)
        if result.claimed:
            log.info("batch: %d claimed, %d sent, %d to retry, %d failed",
                     result.claimed, result.sent, result.retrying, result.failed)
            self.since_beat.update(sent=result.sent, retrying=result.retrying, failed=result.failed)
        return result

    def send_promptly(self):
        """Until the next job is due (a second at most, to notice SIGTERM): send what is
        queued meanwhile, as the budget allows."""
        idle = self.jobs.idle_seconds
        self.prompt.step(min(max(idle if idle is not None else 1.0, 0.05), 1.0))

    def poll_mailbox(self):
        taken = mailbox.poll(self.settings, email_in.storer, self.clock())
        if taken:
            log.info("took %d new mails from %s", taken, self.settings.imap_host)

    def check_payments(self):
        """Ask OxaPay about the pending payments whose time has come (lost webhooks)."""
        counts = polling.check_due(self.clock())
        if counts["changed"] or counts["failed"]:
            log.info("payments: %s", counts)

    def send_premium_alerts(self):
        """Premium ending within 3 days, or ended: each customer told once per period."""
        counts = premium.send_alerts(self.clock())
        if _did_something(counts):
            log.info("premium alerts: %s", counts)

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
        if self.settings.shop:
            self.guarded(self.send_premium_alerts)
        self.guarded(self.send_outbox)  # don't make a restart wait a whole interval
        while not self.stopping:
            self.jobs.run_pending()
            self.guarded(self.send_promptly)
        log.info("stopped")


def _work_due():
    """Whether messages are due or providers told us something: the SQLite wakeup's poll."""
    return outbox.notifications_due() or inbound.pending_exists()


def _did_something(result):
    """Jobs return a count, or counts by kind."""
    return any(result.values()) if isinstance(result, dict) else bool(result)


def main(argv):
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s scheduler %(levelname)s %(message)s")
    logging.getLogger("twilio").setLevel(logging.WARNING)   # it logs every request at INFO
    try:
        settings = load_settings()
        settings.require_bot_token()
        bind(settings.database_url, settings.data_encryption_key)
        policy.configure(settings)
        subscriptions.register()
    except (ConfigError, DatabaseUnavailable, ValueError) as exc:
        print(f"Leadgram scheduler cannot start:\n{exc}", file=sys.stderr)
        return 2
    telegram = TelegramTransport(settings.telegram_api_url, settings.bot_token)
    scheduler = Scheduler(settings, Transports.from_settings(settings, telegram))

    def stop(*_):
        scheduler.stopping = True  # finishes the message in hand, releases the rest
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("delivering every %ss, %d at a time; within that, as soon as queued",
             settings.send_interval_seconds, settings.send_batch_size)
    for channel in (*CHANNELS, IMAP):
        if not settings.channel_on(channel):
            log.info("%s", off_reason(channel))
    if settings.shop and not settings.payments_on:
        log.info("crypto top-ups are off: set OXAPAY_MERCHANT_API_KEY to turn them on")
    scheduler.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
