"""The Telegram bot process: long-polls for updates and hands each to services.chat.

Run from the project root: `python bot.py` (`--check-config` only validates settings).
"""
import logging
import signal
import sys
import threading
import time

import requests
import telebot
from peewee import DatabaseError, OperationalError
from telebot import apihelper, types

from models import DatabaseUnavailable, bind, db, drop_connection, transaction_intact
from services import subscriptions
from services.chat import bot_profile, replies, router as chat, updates
from services.chat.inbox import Incoming
from services.core import policy
from services.core.config import ConfigError, load_settings
from services.crm import team
from services.delivery import outbox
from services.delivery.pacing import Pacer
from services.delivery.reply_threads import ReplyThreads
from services.delivery.sender import DeliveryPolicy, deliver
from services.delivery.telegram import TelegramTransport
from services.delivery.telegram_http import BotApiHttp

log = logging.getLogger("leadgram.bot")
POLL_TIMEOUT = 25          # seconds Telegram holds a getUpdates open
MAX_BACKOFF = 60
SWEEP_SECONDS = 0.25       # how often replies waiting (a retry, a crash) are looked for
HOUSEKEEPING_SECONDS = 3600  # forgetting old update ids: hourly is plenty for a 2-day window
SORRY = "Sorry, something went wrong on our side and nothing was changed. Please try again."
# What a message may carry besides text, and the fields of it worth keeping
# (services/inbox/attachments.py); an animation also comes as a document.
MEDIA_KINDS = ("animation", "document", "voice", "video", "video_note", "audio", "sticker")
FILE_FIELDS = ("file_id", "file_unique_id", "file_name", "mime_type", "file_size", "width",
               "height", "duration", "emoji")


class LeadgramBot(telebot.TeleBot):
    """A TeleBot whose updates are each handled once, inside one transaction."""

    def __init__(self, settings, bot_username):
        super().__init__(settings.bot_token, threaded=False, parse_mode=None)
        self.ctx = chat.ChatContext(bot_username=bot_username,
                                    admin_ids=settings.admin_telegram_ids,
                                    open_team=settings.open_team, settings=settings,
                                    client_inbox=settings.client_inbox, shop=settings.shop)
        # Handler errors must reach process_new_updates (to roll back), not
        # stop at telebot's log line.
        self.exception_handler = _Reraise()
        self.update_id = None  # the update being handled: its replies are keyed by it
        self.queued = threading.Event()  # a batch committed: messages may wait to be sent
        self.transport = TelegramTransport(settings.telegram_api_url, settings.bot_token)
        self.delivery = DeliveryPolicy()
        self.pacer = Pacer(self.delivery)
        self.replies = ReplyThreads()
        self.message_handler(content_types=telebot.util.content_type_media)(self.on_message)
        self.callback_query_handler(func=lambda call: True)(self.on_button)

    def process_new_updates(self, new_updates):
        """Handle a batch in one transaction, each update in a savepoint.

        An update is marked handled together with its effects, so when a crash
        makes Telegram deliver it again it is skipped. One commit per batch keeps
        a busy bot fast; replies go out after the commit. Returns False when the
        batch could not be saved, so the caller fetches it again.
        """
        try:
            with db.atomic():
                for update in new_updates:
                    try:
                        with db.atomic():
                            if updates.first_time(update.update_id):
                                self.update_id = update.update_id
                                super().process_new_updates([update])
                    except Exception:
                        if not transaction_intact():  # the whole batch is lost: don't confirm it
                            raise DatabaseError("the database rolled back the batch") from None
                        # Its savepoint rolled back, so "nothing was changed" is true.
                        log.exception("update %s failed", update.update_id)
                        self._apologise(update)
        except Exception:
            log.exception("could not save %d updates; fetching them again", len(new_updates))
            drop_connection()
            return False
        # Messages for other people (a client's alert to the team, a reply to a client)
        # were queued too: the housekeeper sends them now rather than at its next sweep.
        self.queued.set()
        return True

    def _apologise(self, update):
        """Best effort, not queued: the failed update may have rolled back the very
        row a queued reply would need (the person's first /start)."""
        chat_id = (update.message.chat.id if update.message else
                   update.callback_query.from_user.id if update.callback_query else None)
        if chat_id is not None:
            self.after_commit(chat_id, lambda: self.notice(chat_id, SORRY))

    # Handlers ------------------------------------------------------------

    def on_message(self, message):
        if message.chat.type != "private":  # groups and channels are not ours to answer
            return
        user = self._person(message.from_user)
        incoming = _incoming(message)
        answers = self._guarded(lambda: chat.on_message(self.ctx, user, incoming, message.chat.id))
        if message.text and message.text.startswith("/start"):
            self.after_commit(user.telegram_id, lambda: self.publish_menu(user))
        self.deliver(user, answers, message_id=message.message_id)

    def on_button(self, call):
        user = self._person(call.from_user)
        source = call.message if call.message and call.message.chat.type == "private" else None
        answers = self._guarded(lambda: chat.on_button(
            self.ctx, user, call.data or "", source.message_id if source else None))
        self.after_commit(call.from_user.id, lambda: self.answer_callback_query(call.id))
        if source is not None:
            self.deliver(user, answers, pressed_message_id=source.message_id)

    def _person(self, tg_user):
        return team.register(tg_user.id, tg_user.username, tg_user.first_name,
                             tg_user.last_name, admin_ids=self.ctx.admin_ids)

    def _guarded(self, handle):
        """Run a service call in a savepoint: a failure undoes its writes only."""
        try:
            with db.atomic():
                return handle()
        except Exception:
            if not transaction_intact():  # nothing left to answer for: the batch is lost
                raise
            log.exception("handler failed")
            return [chat.Reply(SORRY)]

    # Output --------------------------------------------------------------

    def deliver(self, user, answers, pressed_message_id=None, message_id=None):
        """Queue the answers in the update's transaction; send them once it commits."""
        replies.queue(user, self.update_id, answers, pressed_message_id, message_id=message_id)
        chat_id, recipient_id = user.telegram_id, user.id
        db.after_commit(lambda: self.replies.flush(
            chat_id, lambda: self.send_replies(recipient_id, chat_id)))

    def send_replies(self, recipient_id, chat_id):
        """Send a person's waiting replies, in order, within Telegram's limits."""
        try:
            claimed = outbox.claim_replies(recipient_id)
            # A chat still within its gap is not waited for on this thread, which serves
            # other people's chats too: it is flushed again the moment the gap ends (a
            # client's alert to a busy member would otherwise also wait for the sweep).
            deliver(self.transport, claimed, self.delivery, self.pacer, chat_wait=0)
            due = outbox.next_reply_due(recipient_id)
            if due is not None:
                self.replies.flush_at(chat_id, due, lambda: self.send_replies(recipient_id, chat_id))
        except Exception as exc:  # the sweep tries again; the replies are still queued
            log.warning("sending replies failed: %s", self.redact(exc))
            drop_connection()

    def sweep(self):
        """Replies nobody is sending: released to retry, or left by a bot that died."""
        outbox.expire_replies()
        for recipient_id, chat_id in outbox.chats_with_due_replies():
            self.replies.flush(chat_id, lambda r=recipient_id, c=chat_id: self.send_replies(r, c))

    def after_commit(self, chat_id, call):
        """Best-effort calls (callback answers, menus, notices) once the update's
        changes are committed, on the chat's reply thread."""
        def run():
            try:
                call()
            except Exception as exc:  # a lost notice must not undo the work
                log.warning("a call to Telegram failed: %s", self.redact(exc))
        db.after_commit(lambda: self.replies.submit(chat_id, run))

    def notice(self, chat_id, text):
        self.pacer.acquire(None, max_wait=0)
        self.send_message(chat_id, text)

    def redact(self, error):
        """requests puts the URL, token included, in its messages."""
        return str(error).replace(self.token, "<token>")

    def publish_menu(self, user):
        """The command menu: clients see /start, /help and /stop (and the shop's commands
        with the shop on), members what their role allows."""
        commands = [types.BotCommand(name, desc[:256])
                    for name, desc in chat.menu(user.role, self.ctx.client_inbox, self.ctx.shop)]
        self.set_my_commands(commands, scope=types.BotCommandScopeChat(user.telegram_id))


def _incoming(message):
    """A telebot Message as services.chat sees it: text (or caption), attachments and
    the message it replies to."""
    found = []
    if message.photo:  # sizes, smallest first: the largest is the photo
        largest = message.photo[-1]
        found.append(_attachment("photo", largest))
    for kind in MEDIA_KINDS:
        item = getattr(message, kind, None)
        if item is not None and not (kind == "document" and message.animation is not None):
            found.append(_attachment(kind, item))
    if message.location is not None:
        found.append({"kind": "location", "latitude": message.location.latitude,
                      "longitude": message.location.longitude})
    if message.contact is not None:
        found.append({"kind": "contact", "phone_number": message.contact.phone_number,
                      "first_name": message.contact.first_name,
                      "last_name": message.contact.last_name})
    return Incoming(message_id=message.message_id,
                    text=message.text if message.text is not None else message.caption,
                    attachments=found,
                    reply_to_message_id=(message.reply_to_message.message_id
                                         if message.reply_to_message else None))


def _attachment(kind, item):
    return {"kind": kind, **{name: getattr(item, name, None) for name in FILE_FIELDS}}


class _Reraise(telebot.ExceptionHandler):
    def handle(self, exception):
        raise exception


class Backoff:
    def __init__(self, first=0.5, cap=MAX_BACKOFF):
        self.first, self.cap, self.delay = first, cap, first

    def next(self):
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay

    def reset(self):
        self.delay = self.first


def connect(settings, stopping):
    """getMe until Telegram answers: a network outage at start is waited out,
    a rejected token is not."""
    probe = telebot.TeleBot(settings.bot_token, threaded=False)
    backoff = Backoff()
    while not stopping():
        try:
            return probe.get_me().username
        except apihelper.ApiTelegramException as exc:
            if exc.error_code in (401, 404):
                raise ConfigError(f"Telegram rejected TELEGRAM_BOT_TOKEN ({exc.description}). "
                                  "Check the token with @BotFather.") from None
            log.warning("getMe failed: %s", exc.description)
        except requests.RequestException as exc:
            log.warning("cannot reach Telegram at %s: %s", settings.telegram_api_url,
                        type(exc).__name__)
        time.sleep(backoff.next())
    return None


class Housekeeper(threading.Thread):
    """Sends the replies that are due and nobody is sending (every SWEEP_SECONDS; at
    start, those a killed predecessor left) and forgets old update ids (hourly). A failure, such
    as a database that cannot be written, is logged and tried again: never fatal."""

    def __init__(self, bot):
        super().__init__(daemon=True, name="housekeeping")
        self.bot = bot
        self.stopped = threading.Event()
        self.failing = False

    def run(self):
        next_forget = 0.0
        recovered = False
        while not self.stopped.is_set():
            try:
                if not recovered:
                    outbox.recover_stale(self.bot.delivery.lease_seconds)
                    recovered = True
                self.bot.queued.clear()
                self.bot.sweep()
                if time.monotonic() >= next_forget:
                    updates.forget_old()
                    next_forget = time.monotonic() + HOUSEKEEPING_SECONDS
                self._healthy()
            except Exception as exc:
                self._failed(exc)
            self.bot.queued.wait(SWEEP_SECONDS)

    def _failed(self, exc):
        drop_connection()
        if not self.failing:  # once per outage, not once a second
            log.error("housekeeping failed, trying again every %ss: %s", SWEEP_SECONDS,
                      self.bot.redact(exc))
        self.failing = True

    def _healthy(self):
        if self.failing:
            log.info("housekeeping works again")
        self.failing = False


def poll(bot, stopping):
    backoff = Backoff()
    offset = None
    while not stopping():
        try:
            batch = bot.get_updates(offset=offset, timeout=POLL_TIMEOUT + 10,
                                    long_polling_timeout=POLL_TIMEOUT,
                                    allowed_updates=["message", "callback_query"])
        except (apihelper.ApiException, requests.RequestException) as exc:
            delay = backoff.next()
            log.warning("getUpdates failed (%s); retrying in %.1fs", bot.redact(exc), delay)
            time.sleep(delay)
            continue
        if not bot.process_new_updates(batch):
            time.sleep(backoff.next())
            continue
        backoff.reset()
        if batch:
            offset = batch[-1].update_id + 1


def publish_menus(bot):
    """Everyone's command menu, as their role has it now; a failure waits for /start."""
    try:
        bot.set_my_commands([types.BotCommand(n, d)
                             for n, d in chat.menu(None, bot.ctx.client_inbox, bot.ctx.shop)])
        for member in team.members():
            bot.publish_menu(member)
    except (apihelper.ApiException, requests.RequestException, OperationalError) as exc:
        log.warning("could not publish the command menus: %s", bot.redact(exc))
        drop_connection()


def publish_profile(bot):
    """The bot's description and short description (services/chat/bot_profile.py), each set
    only when Telegram has another: setting them is rate-limited; a failure waits for the
    next start."""
    wanted = bot_profile.texts(bot.ctx.settings)
    try:
        if bot.get_my_description().description != wanted["description"]:
            bot.set_my_description(wanted["description"])
        if bot.get_my_short_description().short_description != wanted["short_description"]:
            bot.set_my_short_description(wanted["short_description"])
    except (apihelper.ApiException, requests.RequestException) as exc:
        log.warning("could not set the bot's description: %s", bot.redact(exc))


def _request_stop(stop):
    """SIGTERM: leave at once while idle in a long poll, else after the current update."""
    stop.append(True)
    if db.obj is None or db.transaction_depth() == 0:
        raise KeyboardInterrupt


def main(argv):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bot %(levelname)s %(message)s")
    try:
        settings = load_settings()
        settings.require_bot_token()
        if "--check-config" in argv:
            return 0
        apihelper.API_URL = settings.telegram_api_url + "/bot{0}/{1}"
        apihelper.CUSTOM_REQUEST_SENDER = BotApiHttp(settings.telegram_api_url).request
        bind(settings.database_url, settings.data_encryption_key)
        policy.configure(settings)
        subscriptions.register()
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: _request_stop(stop))
        username = connect(settings, lambda: bool(stop))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, DatabaseUnavailable, ValueError) as exc:
        print(f"Leadgram bot cannot start:\n{exc}", file=sys.stderr)
        return 2
    if username is None:
        return 0
    bot = LeadgramBot(settings, username)
    housekeeper = Housekeeper(bot)
    housekeeper.start()
    try:
        publish_menus(bot)
        publish_profile(bot)
        log.info("@%s is running against %s", username, settings.telegram_api_url)
        poll(bot, lambda: bool(stop))
    except KeyboardInterrupt:
        pass
    housekeeper.stopped.set()
    bot.queued.set()
    bot.replies.close()  # replies to work already committed still go out
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
