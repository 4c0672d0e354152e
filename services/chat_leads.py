"""Lead commands in chat: /leads (paged), /lead <id>, /find <text>."""
from services import leads
from services.replies import Reply
from services.texts import h, lead_card, lead_line


def page(number, replace=True):
    try:
        wanted = int(number)
    except ValueError:
        wanted = 0
    rows, current, pages = leads.recent(wanted)
    if not rows:
        return Reply("No leads yet. /createLead adds the first one.")
    text = "\n".join([f"<b>Leads</b> (page {current + 1} of {pages}, newest first)"]
                     + [lead_line(lead) for lead in rows]
                     + ["", "/lead &lt;id&gt; shows one."])
    nav = []
    if current > 0:
        nav.append(("◀ Newer", f"leads:{current - 1}"))
    if current + 1 < pages:
        nav.append(("Older ▶", f"leads:{current + 1}"))
    return Reply(text, [nav] if nav else [], replace=replace)


def show(args):
    lead_id = args.lstrip("#")
    if not lead_id.isdigit() or len(lead_id) > 15:
        return Reply("Send the lead's number, e.g. /lead 12.")
    lead = leads.get(int(lead_id))
    if lead is None:
        return Reply(f"There is no lead #{h(lead_id)}.")
    return Reply(lead_card(lead))


def find(args):
    if len(args.strip()) < 2:
        return Reply("Send at least two characters to look for, e.g. /find smith.")
    found = leads.search(args)
    if not found:
        return Reply(f"No leads match “{h(args)}”.")
    more = "" if len(found) < leads.MAX_SEARCH_RESULTS else f"\n(first {len(found)}; narrow the search for more)"
    return Reply(f"<b>Leads matching “{h(args)}”</b>\n"
                 + "\n".join(lead_line(lead) for lead in found) + more)
