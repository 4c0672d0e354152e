"""Postgres: trigram index so the panel's lead search (ILIKE '%term%') skips the full scan.

SQLite scans 100,000 leads fast enough and has no such index. If the database user may not
create the pg_trgm extension (it is "trusted" from Postgres 13 on), search still works,
only slower, so the migration says so and goes on.
"""
import logging

from peewee import PostgresqlDatabase, ProgrammingError

log = logging.getLogger("leadgram.migrations")


def up(migrator, db):
    if not isinstance(db, PostgresqlDatabase):
        return
    try:
        with db.atomic():  # a savepoint: a refusal must not abort the migration
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except ProgrammingError as exc:
        log.warning("lead search stays unindexed: cannot create extension pg_trgm (%s)",
                    str(exc).strip())
        return
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS lead_search_trgm ON lead USING gin "
        "(email gin_trgm_ops, phone gin_trgm_ops, first_name gin_trgm_ops, last_name gin_trgm_ops)")
