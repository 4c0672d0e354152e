"""The event bus: subscribers in order, results returned, one transaction with the change."""
import pytest

from models import AuditEntry, Lead, db
from services.core import events
from services.core.actors import Actor

PANEL = Actor.panel("boss")


@pytest.fixture
def heard():
    """A subscriber for "test.*" events that records what it was told."""
    told = []

    def listener(event):
        told.append(event)
        return [f"seen {event.name}"]
    events.subscribe("test.happened", listener)
    yield told
    events.unsubscribe("test.happened", listener)


def test_subscribers_hear_their_event_and_return_what_they_made(heard):
    assert events.emit("test.happened", PANEL, number=7) == ["seen test.happened"]
    assert events.emit("test.other", PANEL) == []
    [event] = heard
    assert (event.name, event.action, event.actor, event.data) == \
        ("test.happened", "happened", PANEL, {"number": 7})


def test_subscribing_twice_calls_once(heard):
    events.subscribe("test.happened", heard_listener := (lambda event: ["once"]))
    events.subscribe("test.happened", heard_listener)
    try:
        assert events.emit("test.happened", PANEL).count("once") == 1
    finally:
        events.unsubscribe("test.happened", heard_listener)


def test_everything_subscribers_run_first():
    order = []
    first, second = (lambda event: order.append("all")), (lambda event: order.append("one"))
    events.subscribe("test.order", second)
    events.subscribe(events.ALL, first)
    try:
        events.emit("test.order", PANEL)
    finally:
        events.unsubscribe("test.order", second)
        events.unsubscribe(events.ALL, first)
    assert order == ["all", "one"]


def test_a_failing_subscriber_undoes_the_change(any_db, make_lead):
    lead = make_lead(first_name="Before")

    def refuse(event):
        raise RuntimeError("no")
    events.subscribe("test.refused", refuse)
    try:
        with pytest.raises(RuntimeError), db.atomic():
            Lead.update(first_name="After").where(Lead.id == lead.id).execute()
            events.emit("test.refused", PANEL, "lead", lead.id, {"first_name": ("Before", "After")})
    finally:
        events.unsubscribe("test.refused", refuse)
    assert Lead.get_by_id(lead.id).first_name == "Before"
    assert not AuditEntry.select().where(AuditEntry.event == "test.refused").exists()


def test_changed_created_and_deleted_describe_rows(any_db, make_lead, make_user):
    owner = make_user()
    lead = make_lead(first_name="Ann", owner=owner)
    assert events.changed(lead, {"first_name": "Ann", Lead.last_name: "Lee", "owner": None}) == \
        {"last_name": ("Example", "Lee"), "owner": (owner.id, None)}
    created = events.created(lead)
    assert created["first_name"] == (None, "Ann") and created["owner"] == (None, owner.id)
    assert "id" not in created and "business_domain" not in created  # unset fields left out
    deleted = events.deleted(lead)
    assert deleted["first_name"] == ("Ann", None) and deleted["owner"] == (owner.id, None)
    # A name that is no column is read from the row's attribute: a lead's first email.
    assert events.changed(lead, {"email": "new@example.com", "phone": lead.phone}) == \
        {"email": (lead.email, "new@example.com")}
