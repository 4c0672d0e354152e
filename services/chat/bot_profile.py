"""The bot's profile texts, which bot.py sets at start: the description a person sees in an
empty chat before pressing Start ("What can this bot do?") and the short description on the
bot's profile page and in shared links. Plain text: Telegram parses no markup in them."""

from services.core.config import DESCRIPTION_LIMIT, SHORT_DESCRIPTION_LIMIT

TEAM = "Leads and follow-ups for {company}, in Telegram."
TEAM_DETAILS = ("The team adds leads here, hears about new ones at once, and sees what to "
                "follow up today.")
JOIN_OPEN = "Press Start to join the team."
JOIN_BY_INVITE = "On the team? Press Start. New here? Ask an admin for an invite link."
CLIENT = "Write to {company} here, and we answer you in this chat."
CLIENT_SHOP = "Write to {company}, order packages and follow your orders, all in this chat."
CLIENT_DETAILS = "Ask a question or send photos and files: someone from the team will reply."
SHOP_DETAILS = ("You can also register a profile, order packages paid in tokens and follow "
                "your orders.")
CLIENT_START = "Press Start to begin."
TEAM_TOO = "Team members: this is also where leads and follow-ups are handled."


def texts(settings):
    """{"description": ..., "short_description": ...} for these settings: a team-only bot
    describes itself to the team; with the client inbox on, to customers first (and the
    shop's part with the shop on). BOT_DESCRIPTION / BOT_SHORT_DESCRIPTION replace them."""
    company = settings.company_name
    if settings.client_inbox and not settings.open_team:  # strangers are clients
        short = CLIENT_SHOP if settings.shop else CLIENT
        first = [CLIENT, CLIENT_DETAILS] + ([SHOP_DETAILS] if settings.shop else []) + [CLIENT_START]
        paragraphs = [" ".join(first), TEAM_TOO]
    else:
        short = TEAM
        paragraphs = [f"{TEAM} {TEAM_DETAILS}", JOIN_OPEN if settings.open_team else JOIN_BY_INVITE]
    return {"description": (settings.bot_description
                            or _filled("\n\n".join(paragraphs), company, DESCRIPTION_LIMIT)),
            "short_description": (settings.bot_short_description
                                  or _filled(short, company, SHORT_DESCRIPTION_LIMIT))}


def _filled(template, company, limit):
    """The template with the company's name, shortened with … when it would not fit."""
    room = limit - len(template.format(company=""))
    if len(company) > room:
        company = company[:room - 1].rstrip() + "…"
    return template.format(company=company)
