"""Accent- and case-insensitive search (issue 13): a lead's and a customer profile's
`search_name` and a contact's `search_value`, folded by services/core/search.py, filled
here for the rows there are (in batches, by id) and written with the names and contacts
from now on. On Postgres the trigram indexes of the search move to these columns.
"""
import logging

from peewee import CharField, Model, PostgresqlDatabase, ProgrammingError, TextField, ValuesList

from services.core.search import fold, name_key

log = logging.getLogger("leadgram.migrations")
BATCH = 1000   # rows per UPDATE: 2,000 parameters, far below either database's limit


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db

    class Lead(Base):
        first_name = CharField()
        last_name = CharField()
        search_name = TextField()

        class Meta:
            table_name = "lead"

    class Contact(Base):
        value = CharField()
        search_value = TextField()

        class Meta:
            table_name = "contact"

    class CustomerProfile(Base):
        first_name = CharField()
        last_name = CharField()
        search_name = TextField()

        class Meta:
            table_name = "customer_profile"

    # Plain SQL: peewee's SQLite migrator would rebuild the table for NOT NULL, and dropping
    # the old `lead` would cascade to every row that points at it.
    for table, column in (("lead", "search_name"), ("contact", "search_value"),
                          ("customer_profile", "search_name")):
        db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
    # Postgres: the trigram indexes of 0008 (on the names and contact.value) go before the
    # rows are rewritten, so the fill does not update them too; they come back on the
    # folded columns, under the same names.
    db.execute_sql("DROP INDEX IF EXISTS lead_search_trgm")
    db.execute_sql("DROP INDEX IF EXISTS contact_search_trgm")
    _fill(Lead, Lead.search_name, name_key, Lead.first_name, Lead.last_name)
    _fill(Contact, Contact.search_value, fold, Contact.value)
    _fill(CustomerProfile, CustomerProfile.search_name, name_key,
          CustomerProfile.first_name, CustomerProfile.last_name)
    if isinstance(db, PostgresqlDatabase):
        _trigram_indexes(db)


def _fill(model, target, key, *sources):
    """`target` = key(*sources) for every row, BATCH rows by id at a time."""
    last = 0
    while True:
        rows = list(model.select(model.id, *sources).where(model.id > last)
                    .order_by(model.id).limit(BATCH).tuples())
        if not rows:
            return
        # (VALUES …) joined by id, its columns by their default names on both databases.
        keys = ValuesList([(row[0], key(*row[1:])) for row in rows], alias="folded")
        (model.update({target: keys.c.column2}).from_(keys)   # the range: an index scan
         .where(model.id == keys.c.column1, model.id.between(rows[0][0], rows[-1][0])).execute())
        last = rows[-1][0]


def _trigram_indexes(db):
    """The search's trigram indexes, now on the folded columns."""
    try:
        with db.atomic():  # a savepoint: no pg_trgm (see 0003) must not abort the migration
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except ProgrammingError as exc:
        log.warning("lead search stays unindexed: cannot create extension pg_trgm (%s)",
                    str(exc).strip())
        return
    db.execute_sql("CREATE INDEX lead_search_trgm ON lead USING gin (search_name gin_trgm_ops)")
    db.execute_sql("CREATE INDEX contact_search_trgm ON contact "
                   "USING gin (search_value gin_trgm_ops)")
