"""Getting messages out: the outbox, the batch sender, the pace every sending process
shares, the Telegram client and transport, Telegram HTML, and broadcasts."""
