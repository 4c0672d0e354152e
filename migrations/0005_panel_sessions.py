"""Admin panel logins kept in the database (issue 9), so logging out or changing the
password ends a session even where a copy of its cookie lives on.

- New table `panel_session`: the cookie's token, the user name, a fingerprint of the
  login it was opened with, and when it was opened, last used and expires.

The table is a frozen copy of models.py as of this release, as peewee's runner expects.
"""
from peewee import CharField, DateTimeField, Model


def up(migrator, db):
    class PanelSession(Model):
        id = CharField(primary_key=True)
        username = CharField()
        fingerprint = CharField()
        created_at = DateTimeField()
        last_seen_at = DateTimeField()
        expires_at = DateTimeField()

        class Meta:
            database = db
            table_name = "panel_session"

    db.create_tables([PanelSession])
