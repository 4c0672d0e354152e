"""Command menus that follow role changes at once (issue 13): an `outbox` row may set a
member's command menu (`commands`: JSON [[name, description], …], "[]" to drop theirs
and fall back to the bot's default) instead of sending text, so a role changed in chat or
in the panel reaches Telegram through the same queue, retries and pacing as a message."""
from peewee import TextField
from playhouse.migrate import migrate


def up(migrator, db):
    migrate(migrator.add_column("outbox", "commands", TextField(null=True)))
