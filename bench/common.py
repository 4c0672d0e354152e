"""What the bench scripts share: the project on sys.path, targets, the results table."""
import hashlib
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
