"""What Telegram sees of a bot's pace, read from the emulator's call log: the most
calls in any second, and the smallest gap between two messages to one chat."""
import collections


def sliding_peak(times, window=1.0):
    """The most calls in any sliding window: for each call, those in (t - window, t]."""
    times = sorted(times)
    peak, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - window:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def per_chat_gaps(calls):
    """chat id -> the smallest gap (s) between two consecutive calls to it."""
    by_chat = collections.defaultdict(list)
    for call in calls:
        by_chat[int(call.params["chat_id"])].append(call.at)
    return {chat: min(b - a for a, b in zip(times, times[1:]))
            for chat, times in by_chat.items() if len(times) > 1}
