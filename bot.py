"""The Telegram bot process: long-polls for updates and hands each to services.chat.

Run from the project root: `python bot.py` (`--check-config` only validates settings).
"""
import logging
import queue
import signal
import sys
import threading
import time

import requests
import telebot
from telebot import apihelper, types

from models import DatabaseUnavailable, bind, db, drop_connection
from services import chat, policy, team, updates
from services.config import ConfigError, load_settings
from services.telegram_http import BotApiHttp
from services.texts import split_html

log = logging.getLogger("leadgram.bot")
POLL_TIMEOUT = 25          # seconds Telegram holds a getUpdates open
MAX_BACKOFF = 60
MAX_REPLY_WAIT = 5         # seconds a reply may wait out Telegram's flood control
REPLY_THREADS = 4
SORRY = "Sorry, something went wrong on our side and nothing was changed. Please try again."
NO_LINK_PREVIEW = types.LinkPreviewOptions(is_disabled=True)


class LeadgramBot(telebot.TeleBot):
    """A TeleBot whose updates are each handled once, inside one transaction."""

    def __init__(self, settings, bot_username):
        super().__init__(settings.bot_token, threaded=False, parse_mode=None)
        self.ctx = chat.ChatContext(bot_username=bot_username,
                                    admin_ids=settings.admin_telegram_ids,
                                    open_team=settings.open_team, settings=settings)
        # Handler errors must reach process_new_updates (to roll back), not
        # stop at telebot's log line.
        self.exception_handler = _Reraise()
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
                                super().process_new_updates([update])
                    except Exception:
                        # Its savepoint rolled back, so "nothing was changed" is true.
                        log.exception("update %s failed", update.update_id)
                        self._apologise(update)
        except Exception:
            log.exception("could not save %d updates; fetching them again", len(new_updates))
            drop_connection()
            return False
        return True

    def _apologise(self, update):
        chat_id = (update.message.chat.id if update.message else
                   update.callback_query.from_user.id if update.callback_query else None)
        if chat_id is not None:
            self.after_commit(chat_id, lambda: self.send_message(chat_id, SORRY))

    # Handlers ------------------------------------------------------------

    def on_message(self, message):
        if message.chat.type != "private":
            self.deliver(message.chat.id, [chat.Reply("Please talk to me in a private chat.")])
            return
        user = self._person(message.from_user)
        if message.text is None:
            replies = [chat.Reply("I can only read text messages. /help lists what I can do.")]
        else:
            replies = self._guarded(lambda: chat.on_text(self.ctx, user, message.text))
        if message.text and message.text.startswith("/start"):
            self.after_commit(user.telegram_id, lambda: self.publish_menu(user))
        self.deliver(message.chat.id, replies)

    def on_button(self, call):
        user = self._person(call.from_user)
        replies = self._guarded(lambda: chat.on_button(self.ctx, user, call.data or ""))
        self.after_commit(call.from_user.id, lambda: self.answer_callback_query(call.id))
        source = call.message if call.message and call.message.chat.type == "private" else None
        if source is not None:
            self.deliver(source.chat.id, replies, source_message_id=source.message_id)

    def _person(self, tg_user):
        return team.register(tg_user.id, tg_user.username, tg_user.first_name,
                             tg_user.last_name, admin_ids=self.ctx.admin_ids)

    def _guarded(self, handle):
        """Run a service call in a savepoint: a failure undoes its writes only."""
        try:
            with db.atomic():
                return handle()
        except Exception:
            log.exception("handler failed")
            return [chat.Reply(SORRY)]

    # Output --------------------------------------------------------------

    def after_commit(self, chat_id, send):
        """Talk to Telegram only once the update's changes are committed, and on
        a reply thread, so a slow round trip never holds up the next update."""
        def run():
            try:
                try:
                    send()
                except apihelper.ApiTelegramException as exc:
                    # telebot does not wait out a 429; a person is waiting, so wait briefly once.
                    retry_after = ((exc.result_json or {}).get("parameters") or {}).get("retry_after")
                    if exc.error_code != 429 or not retry_after or retry_after > MAX_REPLY_WAIT:
                        raise
                    time.sleep(retry_after)
                    send()
            except Exception as exc:  # a reply lost to the network must not undo the work
                log.warning("sending a reply failed: %s", self.redact(exc))
        db.after_commit(lambda: self.replies.submit(chat_id, run))

    def redact(self, error):
        """requests puts the URL, token included, in its messages."""
        return str(error).replace(self.token, "<token>")

    def deliver(self, chat_id, replies, source_message_id=None):
        if source_message_id and not all(reply.replace for reply in replies):
            # The pressed keyboard goes, so it cannot be pressed twice.
            self.after_commit(chat_id, lambda: self.edit_message_reply_markup(
                chat_id, source_message_id, reply_markup=None))
        for reply in replies:
            self.after_commit(chat_id, lambda reply=reply: self._send(chat_id, reply,
                                                                     source_message_id))

    def _send(self, chat_id, reply, source_message_id):
        markup = _keyboard(reply.buttons)
        if reply.replace and source_message_id:
            self.edit_message_text(reply.text, chat_id, source_message_id, parse_mode="HTML",
                                   reply_markup=markup, link_preview_options=NO_LINK_PREVIEW)
            return
        parts = split_html(reply.text)
        for number, part in enumerate(parts, 1):
            self.send_message(chat_id, part, parse_mode="HTML",
                              reply_markup=markup if number == len(parts) else None,
                              link_preview_options=NO_LINK_PREVIEW)

    def publish_menu(self, user):
        """The command menu: strangers see /start and /help, members what their role allows."""
        commands = [types.BotCommand(name, desc[:256]) for name, desc in chat.menu(user.role)]
        self.set_my_commands(commands, scope=types.BotCommandScopeChat(user.telegram_id))


class ReplyThreads:
    """Background senders. A chat always maps to the same thread, so its
    replies keep their order; different chats are answered in parallel."""

    def __init__(self, count=REPLY_THREADS):
        self.queues = [queue.Queue() for _ in range(count)]
        self.threads = [threading.Thread(target=self._work, args=(q,), daemon=True,
                                         name=f"replies-{n}") for n, q in enumerate(self.queues)]
        for thread in self.threads:
            thread.start()

    def submit(self, chat_id, job):
        self.queues[chat_id % len(self.queues)].put(job)

    def _work(self, jobs):
        while True:
            job = jobs.get()
            try:
                if job is None:
                    return
                job()
            finally:
                jobs.task_done()

    def drain(self):
        """Wait until every reply submitted so far has been sent (or given up)."""
        for jobs in self.queues:
            jobs.join()

    def close(self, timeout=10):
        for jobs in self.queues:
            jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Reraise(telebot.ExceptionHandler):
    def handle(self, exception):
        raise exception


def _keyboard(rows):
    if not rows:
        return None
    markup = types.InlineKeyboardMarkup()
    for row in rows:
        markup.row(*[types.InlineKeyboardButton(label, callback_data=data) for label, data in row])
    return markup


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


def poll(bot, stopping):
    backoff = Backoff()
    offset = None
    next_cleanup = 0.0
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
        if time.monotonic() >= next_cleanup:  # hourly is plenty for a 2-day window
            updates.forget_old()
            next_cleanup = time.monotonic() + 3600


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
        bind(settings.database_url)
        policy.configure(settings)
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
    bot.set_my_commands([types.BotCommand(n, d) for n, d in chat.menu(None)])
    for member in team.members():
        bot.publish_menu(member)
    log.info("@%s is running against %s", username, settings.telegram_api_url)
    try:
        poll(bot, lambda: bool(stop))
    except KeyboardInterrupt:
        pass
    bot.replies.close()  # replies to work already committed still go out
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
