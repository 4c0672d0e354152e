"""Client conversations: people who are not on the team write to the bot, and the team answers them."""
