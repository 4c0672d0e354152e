"""Follow-up automation: the rules language, matching, the engine that runs rule actions,
and the scheduled jobs (reminders, stale leads, daily summaries, cleanup)."""
