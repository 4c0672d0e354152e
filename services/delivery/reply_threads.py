"""The bot's sender threads: the replies and client messages it sends itself as soon as
their update commits (bot.py). A chat always maps to the same thread, so its messages keep
their order; different chats go out in parallel."""
import queue
import threading
import time

from models import utcnow

REPLY_THREADS = 4
FLUSH_AT_LIMIT = 5.0   # a chat free again within this many seconds is flushed right then


class ReplyThreads:
    """Background senders. A chat always maps to the same thread, so its
    replies keep their order; different chats are answered in parallel."""

    def __init__(self, count=REPLY_THREADS):
        self._lock = threading.Lock()
        self._flushing = set()  # chats with a flush waiting in their queue
        self._timers = {}       # chat -> the Timer that flushes it when its gap ends
        self.queues = [queue.Queue() for _ in range(count)]
        self.threads = [threading.Thread(target=self._work, args=(q,), daemon=True,
                                         name=f"replies-{n}") for n, q in enumerate(self.queues)]
        for thread in self.threads:
            thread.start()

    def submit(self, chat_id, job):
        self.queues[chat_id % len(self.queues)].put(job)

    def flush(self, chat_id, send):
        """Queue `send` for the chat unless a flush is already waiting there: a
        burst of updates from one person needs one pass over their replies."""
        with self._lock:
            if chat_id in self._flushing:
                return
            self._flushing.add(chat_id)

        def job():
            with self._lock:
                self._flushing.discard(chat_id)
            send()
        self.submit(chat_id, job)

    def flush_at(self, chat_id, when, send):
        """flush() once `when` (naive UTC) has come: the end of the chat's gap. Later
        calls for the same chat before then change nothing; the sweep is the fallback."""
        delay = (when - utcnow()).total_seconds()
        if delay <= 0:
            self.flush(chat_id, send)
            return
        if delay > FLUSH_AT_LIMIT:  # a 429's retry_after or a backoff: the sweep sees to it
            return
        with self._lock:
            if chat_id in self._timers:
                return
            timer = threading.Timer(delay, self._timer_fired, (chat_id, send))
            timer.daemon = True
            self._timers[chat_id] = timer
        timer.start()

    def _timer_fired(self, chat_id, send):
        with self._lock:
            self._timers.pop(chat_id, None)
        self.flush(chat_id, send)

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
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
        for jobs in self.queues:
            jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
