"""Business rules of Leadgram. Adapters (bot.py, scheduler.py) call in here;
nothing in this package imports telebot or Flask."""
