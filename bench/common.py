"""What the bench scripts share: the project on sys.path, targets, the results table."""
import datetime
import hashlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import models  # noqa: E402 - from the project, on the path just above

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_UPDATES_PER_S = 300.0
TARGET_MS_PER_MESSAGE = 2.0
TARGET_CLAIM_MS = 5.0
TARGET_LEAD_LIST_MS = 150.0   # lead list, first page and a search; median
TARGET_DASHBOARD_MS = 300.0   # median

results = []  # (figure, backend, measured text, target text, met: bool | None)


def schema_stamp():
    """A short hash of the migrations: a cached dataset is only reused by the schema it was
    built with (a migration edited before its release changes it too)."""
    digest = hashlib.sha1()
    for path in sorted((ROOT / "migrations").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:8]


def cached_dataset(prefix, sizes, build):
    """The URL of a SQLite file holding a dataset, built by `build()` into the bound database
    once per day, schema and size, and kept under the temp dir (the datasets' dates are
    relative to their build: an older file would hold nothing for today). `prefix` names
    the bench and the version of its data: "admin_v2"."""
    cache = Path(tempfile.gettempdir()) / "leadgram_bench_cache"
    cache.mkdir(exist_ok=True)
    path = cache / f"{prefix}_{schema_stamp()}_{'_'.join(map(str, sizes))}_{datetime.date.today()}.db"
    if path.exists():
        say(f"sqlite: dataset from the cache, {path}")
        return f"sqlite:///{path}"
    for old in cache.glob(f"{prefix.split('_v')[0]}_v*"):  # other days', sizes' and schemas'
        old.unlink()                                       # files, and unfinished builds
    building = path.with_suffix(".building")
    started = time.monotonic()
    models.bind(f"sqlite:///{building}")
    build()
    models.db.close()  # the last connection checkpoints the WAL into the file
    building.rename(path)
    say(f"sqlite: dataset built in {time.monotonic() - started:.1f} s, cached as {path}")
    return f"sqlite:///{path}"


def timing(area, backend, name, median, p95, target, detail="", width=40):
    """Say and note a median / p95 in ms beside its target (None: no target); met or not."""
    ok = None if target is None else median <= target and p95 <= target
    say(f"{backend}: {name:<{width}} median {median:7.2f} ms, p95 {p95:7.2f} ms"
        f"{f'   target <= {target:g} ms: ' + ('ok' if ok else 'MISSED') if target else ''}"
        f"{'  ' + detail if detail else ''}")
    note(f"{area} {name}, median / p95", backend, f"{median:.1f} / {p95:.1f} ms",
         f"<= {target:g} ms" if target else "", ok)
    return ok


def note(figure, backend, measured, target="", met=None):
    results.append((figure, backend, measured, target, met))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]  # nearest rank


def say(*parts):
    print(*parts, flush=True)


def print_table():
    headers = ("figure", "db", "measured", "target", "")
    rows = [(f, b, m, t, "" if ok is None else ("ok" if ok else "MISSED")) for f, b, m, t, ok in results]
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(5)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    say("\n" + line(headers))
    say(line(["-" * w for w in widths]))
    for row in rows:
        say(line(row))


def insert_team(size, first_telegram_id, now):
    """`size` members (two admins and two dispatchers, then salespeople), inserted at
    once; returns the first one's id (the rest follow it)."""
    User = models.User
    User.insert_many([(first_telegram_id + i, f"member{i}", f"Member{i}", "Bench",
                       ("admin", "dispatcher")[i % 2] if i < 4 else "sales", now, now)
                      for i in range(size)],
                     fields=[User.telegram_id, User.username, User.first_name, User.last_name,
                             User.role, User.joined_at, User.created_at]).execute()
    return User.select(User.id).order_by(User.id).limit(1).scalar()
