"""Message templates in the panel: list, create, edit and delete through
services.inbox.templates, each refusal shown, user text escaped, CSRF required; on
SQLite and Postgres."""
import re

from models import AuditEntry, MessageTemplate
from services.core.actors import Actor
from services.inbox import templates
from tests.panel.conftest import USERNAME, csrf_token, log_in, text_of

GOOD = {"name": "Quote_Reminder", "text": "Hi {first_name|there},\r\nyour quote from {company} is ready."}
XSS = "<script>alert(1)</script>"


def errors_under(page, field):
    """The messages shown under one field of the form."""
    block = re.search(rf'id="{field}".*?(?=<div class="form-group|</form>)', page, re.S).group(0)
    return " ".join(re.findall(r"<li>(.*?)</li>", block, re.S))


def stored(name):
    return MessageTemplate.get_or_none(MessageTemplate.name == name)


def welcome():
    """The welcome template: seeded on SQLite (migration 0008), added on the emptied Postgres."""
    return templates.get(templates.WELCOME) or templates.save(
        Actor.panel("setup"), templates.WELCOME, "Hi {first_name|there}! Thanks for writing to {company}.")


def test_the_list_shows_templates_by_name_with_a_preview_of_the_text(browser):
    welcome()
    templates.save(Actor.panel("setup"), "long_one", "Dear {first_name},\n" + "word " * 40)
    page = text_of(browser.get("/templates/"))
    assert page.index("long_one") < page.index(templates.WELCOME)
    assert "Dear {first_name}, word word" in page and "word " * 40 not in page and "…" in page
    assert "greeting" in page  # the welcome template is marked
    assert re.search(r'href="/templates/">\s*Templates</a>', text_of(browser.get("/")))  # the menu


def test_a_template_is_created_through_the_service_and_audited(browser):
    response = browser.post("/templates/new/", data=GOOD)
    assert response.status_code == 302, text_of(response)
    row = stored("quote_reminder")
    assert row.text == "Hi {first_name|there},\nyour quote from {company} is ready."
    entry = AuditEntry.get(AuditEntry.entity == "template", AuditEntry.entity_id == row.id)
    assert (entry.event, entry.actor_kind, entry.actor_ref) == ("template.created", "panel", USERNAME)


def test_the_form_shows_the_placeholders_and_a_preview(browser):
    page = text_of(browser.get("/templates/new/"))
    for name in templates.PLACEHOLDERS:
        assert "{" + name + "}" in page
    assert "{first_name|there}" in page and 'id="template-preview"' not in page
    row = templates.save(Actor.panel("setup"), "preview_me", "Hi {first_name} & {agent_name|we}")
    page = text_of(browser.get(f"/templates/edit/?id={row.id}"))
    assert 'id="template-preview"' in page and "Hi Alex &amp; Sam Lee" in page
    assert "Hi Alex &amp; Sam Lee" in text_of(browser.get(f"/templates/details/?id={row.id}"))


def test_search_finds_by_name_and_text(browser):
    templates.save(Actor.panel("setup"), "alpha", "Mentions pineapples")
    templates.save(Actor.panel("setup"), "beta", "Nothing here")
    page = text_of(browser.get("/templates/?search=pineapple"))
    assert "alpha" in page and "beta" not in page
    page = text_of(browser.get("/templates/?search=bet"))
    assert "beta" in page and "alpha" not in page


def test_an_unknown_placeholder_is_refused_with_its_name(browser):
    response = browser.post("/templates/new/", data={"name": "bad", "text": "Hi {frist_name}, {colour}"})
    page = text_of(response)
    assert response.status_code == 200
    assert "Unknown placeholders: {frist_name}, {colour}." in errors_under(page, "text")
    assert stored("bad") is None


def test_mistakes_are_refused_under_their_field(browser):
    response = browser.post("/templates/new/", data={"name": "two words", "text": "Hi {first_name"})
    page = text_of(response)
    assert "no spaces" in errors_under(page, "name")
    assert "Unclosed “{” at line 1, column 4" in errors_under(page, "text")
    assert "Hi {first_name" in page  # what was typed stays in the form
    response = browser.post("/templates/new/", data={"name": "nul", "text": "Hi\x00"})
    assert "control character (U+0000)" in errors_under(text_of(response), "text")
    assert MessageTemplate.select().where(MessageTemplate.name.in_(["nul", "two words"])).count() == 0


def test_a_taken_name_is_refused(browser):
    templates.save(Actor.panel("setup"), "taken", "One")
    page = text_of(browser.post("/templates/new/", data={"name": "TAKEN", "text": "Two"}))
    assert "There is already a template called taken" in errors_under(page, "name")
    assert stored("taken").text == "One"


def test_a_template_is_edited_and_renamed(browser):
    row = templates.save(Actor.panel("setup"), "old_name", "Old text")
    response = browser.post(f"/templates/edit/?id={row.id}", data={"name": "new_name", "text": "New {company}"})
    assert response.status_code == 302, text_of(response)
    assert stored("old_name") is None and stored("new_name").text == "New {company}"
    assert AuditEntry.get(AuditEntry.event == "template.updated").entity_id == row.id


def test_welcome_is_edited_but_not_renamed_or_deleted(browser):
    row = welcome()
    page = text_of(browser.post(f"/templates/edit/?id={row.id}", data={"name": "hello", "text": "Hello"}))
    assert "The welcome template cannot be renamed" in errors_under(page, "name")
    response = browser.post(f"/templates/edit/?id={row.id}",
                            data={"name": "welcome", "text": "Hello {first_name|you}!"})
    assert response.status_code == 302
    page = text_of(browser.post("/templates/delete/", data={"id": row.id}, follow_redirects=True))
    assert "The welcome template cannot be deleted" in page
    page = text_of(browser.post("/templates/action/", data={"action": "delete", "rowid": [row.id]},
                                follow_redirects=True))
    assert "Deleted 0 templates." in page and "cannot be deleted" in page
    assert templates.get("welcome").text == "Hello {first_name|you}!"


def test_templates_are_deleted_one_or_several_at_a_time(browser):
    one, two, three = (templates.save(Actor.panel("setup"), name, "Text") for name in ("one", "two", "three"))
    assert browser.post("/templates/delete/", data={"id": one.id}).status_code == 302
    page = text_of(browser.post("/templates/action/", follow_redirects=True, data={
        "action": "delete", "rowid": [str(two.id), str(three.id), str(one.id), "²"]}))
    assert "Deleted 2 templates." in page
    assert MessageTemplate.select().where(MessageTemplate.name.in_(["one", "two", "three"])).count() == 0
    assert AuditEntry.select().where(AuditEntry.event == "template.deleted").count() == 3
    page = text_of(browser.post("/templates/delete/", data={"id": one.id}, follow_redirects=True))
    assert "Record does not exist." in page or "no longer exists" in page


def test_user_text_is_escaped(browser):
    row = templates.save(Actor.panel("setup"), "xss", f"{XSS} {{first_name|{XSS}}}")
    for url in ("/templates/", f"/templates/edit/?id={row.id}", f"/templates/details/?id={row.id}",
                "/templates/?search=" + XSS):
        page = text_of(browser.get(url))
        assert XSS not in page, url
    page = text_of(browser.post("/templates/new/", data={"name": XSS, "text": "Hi {" + XSS + "}"}))
    assert XSS not in page and "&lt;script&gt;" in page
    assert stored(XSS) is None


def test_template_forms_need_a_csrf_token(make_app):
    client = make_app(csrf=True).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    row = templates.save(Actor.panel("setup"), "kept", "Kept")
    for url, data in (("/templates/new/", GOOD), (f"/templates/edit/?id={row.id}", GOOD),
                      ("/templates/delete/", {"id": row.id}),
                      ("/templates/action/", {"action": "delete", "rowid": [row.id]})):
        assert client.post(url, data=data).status_code == 400, url
    assert stored("quote_reminder") is None and stored("kept").text == "Kept"
    token = csrf_token(client, "/templates/new/")
    assert client.post("/templates/new/", data={**GOOD, "csrf_token": token}).status_code == 302
    assert stored("quote_reminder") is not None


def test_the_panel_login_is_required(client):
    assert client.get("/templates/").status_code == 302
    assert client.post("/templates/new/", data=GOOD).status_code == 302
    assert stored("quote_reminder") is None
