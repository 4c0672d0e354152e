"""Getting messages out: the batch sender and the pace every sending process shares."""
