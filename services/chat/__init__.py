"""Everything the bot says and asks: the router, one module per group of commands,
dialogues kept in the database, button data, and replies queued in the outbox."""
