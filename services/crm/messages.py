"""What the team reads about leads in chat and notifications (Telegram HTML, user data escaped)."""
from services.core.markup import h
from services.crm.validation import country_name


def lead_card(lead, title="Lead"):
    creator = lead.created_by.display_name if lead.created_by_id else "the admin panel"
    return (
        f"<b>{h(title)} #{lead.id}</b>\n"
        f"Name: {h(lead.full_name)}\n"
        f"Email: {h(lead.email)}\n"
        f"Phone: {h(lead.phone)}\n"
        f"Country: {h(country_name(lead.country))} ({h(lead.country)})\n"
        f"Added by {h(creator)} on {lead.created_at:%Y-%m-%d %H:%M} UTC"
    )


def lead_line(lead):
    return f"#{lead.id} {h(lead.full_name)} · {h(lead.email)} · {h(lead.phone)} · {h(lead.country)}"


def assigned_to_you(lead, by):
    return (f"Lead #{lead.id} {h(lead.full_name)} is now yours (assigned by {h(by)}). "
            f"/lead {lead.id} shows it.")
