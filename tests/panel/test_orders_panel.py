"""The shop's orders in the panel: the list (filters, search, sorting, CSV without
secrets), status changes after a confirmation (cancel refunds), bulk assign and cancel,
queue moves, reruns, notes and the audited password reveal; user data escaped, the
login and CSRF required, odd ids answered; on SQLite and Postgres."""
import csv
import html
import io
import re

import pytest

from models import AuditEntry, LedgerEntry, Order
from services.shop import orders, wallet
from tests.panel.conftest import csrf_token, log_in, text_of
from tests.panel.shop_helpers import KEY, PANEL, PASSWORD, XSS, customer, order, shop_panel


@pytest.fixture
def shop(make_app):
    yield from shop_panel(make_app)


def page(response):
    """A page's text as people read it (entities such as &#39; decoded)."""
    return html.unescape(text_of(response))


def filter_arg(client, name):
    view = next(v for v in client.application.extensions["admin"][0]._views if v.endpoint == "orders")
    return next(view.get_filter_arg(i, f) for i, f in enumerate(view._filters) if f.name == name)


def listed(response):
    """The order ids on a list page, in their order."""
    text = text_of(response)
    return [int(i) for i in re.findall(r'name="rowid"[^>]*value="(\d+)"', text)]


def test_the_list_shows_orders_with_their_customer_profile_and_queue_place(shop):
    lead, profile = customer("Ann", "Lee", email="ann.profile@example.com")
    first, second = order(lead, profile), order(lead, profile, "sites_250", email_confirmation=True)
    text = page(shop.get("/orders/"))
    assert listed(shop.get("/orders/")) == [second.id, first.id]
    assert f'href="/customers/details/?id={lead.id}"' in text_of(shop.get("/orders/"))
    assert "250 sites" in text and "email confirmation" in text and "Shop" in text
    assert "→\xa0processing" in text and "→\xa0cancelled" in text  # the row's status changes
    detail = page(shop.get(f"/orders/details/?id={second.id}"))
    assert 'id="queue-position">2</dd>' in detail
    assert "ann.profile@example.com" in detail and "300 tokens" in detail


def test_the_shop_pages_are_there_only_when_the_shop_is_open(make_app):
    client = make_app().test_client()
    log_in(client)
    assert client.get("/orders/").status_code == 404
    assert "Orders" not in text_of(client.get("/"))


def test_filters_search_and_sorting(shop, make_user):
    ann, ann_profile = customer("Ann", "Lee")
    bob, bob_profile = customer("Bob", "Marsh", email="bob.profile@example.com",
                                first_name="Robert")
    small, big, other = order(ann, ann_profile), order(ann, ann_profile, "sites_550"), order(bob, bob_profile)
    orders.cancel(PANEL, other.id)
    operator = make_user("operator", first_name="Olga")
    orders.assign(PANEL, big.id, operator.id)

    status = filter_arg(shop, "Status")
    assert listed(shop.get(f"/orders/?flt0_{status}=queued")) == [small.id]
    assert listed(shop.get(f"/orders/?flt0_{status}=cancelled")) == [other.id]
    package = filter_arg(shop, "Package")
    assert listed(shop.get(f"/orders/?flt0_{package}={big.package_id}")) == [big.id]
    by_operator = filter_arg(shop, "Operator")
    assert listed(shop.get(f"/orders/?flt0_{by_operator}={operator.id}")) == [big.id]
    assert listed(shop.get(f"/orders/?flt0_{by_operator}=none")) == [other.id, small.id]
    created = filter_arg(shop, "Created")
    assert len(listed(shop.get(f"/orders/?flt0_{created}=2000-01-01+to+2999-12-31"))) == 3
    assert listed(shop.get(f"/orders/?flt0_{created}=2001-01-01+to+2001-12-31")) == []

    assert listed(shop.get("/orders/?search=marsh")) == [other.id]  # the customer's name
    assert listed(shop.get("/orders/?search=robert")) == [other.id]  # the profile's name
    assert listed(shop.get("/orders/?search=bob.profile")) == [other.id]  # the profile's email
    assert listed(shop.get("/orders/?search=ann+lee")) == [big.id, small.id]

    price = ["id", "created_at", "customer", "profile", "package_name", "email_confirmation",
             "price"].index("price")
    assert listed(shop.get(f"/orders/?sort={price}")) == [small.id, other.id, big.id]
    assert listed(shop.get(f"/orders/?sort={price}&desc=1")) == [big.id, other.id, small.id]
    queue = 9  # the Queue column: queued orders first, in the queue's order
    assert listed(shop.get(f"/orders/?sort={queue}"))[0] == small.id
    assert listed(shop.get("/orders/?sort=10"))[-1] == big.id  # by operator: nobody's first


def test_pages_are_counted_and_cut_the_same_way_for_every_sort(shop):
    """The list counts and pages orders without its joins when it sorts by the orders'
    own columns, and through them when it sorts by a name: the pages agree either way."""
    placed = []
    for n in range(23):
        lead, profile = customer(f"Cust{n:02d}", "Lee", tokens=2000)
        placed.append(order(lead, profile, "sites_250" if n % 2 else "sites_100").id)
    newest_first = sorted(placed, reverse=True)
    assert listed(shop.get("/orders/")) == newest_first[:20]
    assert listed(shop.get("/orders/?page=1")) == newest_first[20:]
    assert "23" in text_of(shop.get("/orders/?page=1"))
    price = 6
    by_price = sorted(placed, key=lambda i: (Order.get_by_id(i).price, i))
    assert listed(shop.get(f"/orders/?sort={price}")) + listed(
        shop.get(f"/orders/?sort={price}&page=1")) == by_price
    by_customer = listed(shop.get("/orders/?sort=2&page=1"))   # through the join
    assert by_customer == placed[20:]
    status = filter_arg(shop, "Status")
    assert listed(shop.get(f"/orders/?flt0_{status}=queued&page=1&sort={price}")) == by_price[20:]
    assert listed(shop.get("/orders/?page=9")) == []


def test_the_csv_export_has_the_orders_and_no_password(shop):
    lead, profile = customer("=HYPERLINK(1)", "Lee")
    placed = order(lead, profile)
    response = shop.get("/orders/export/csv/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["#"] for row in rows] == [str(placed.id)]
    assert rows[0]["Customer"] == "'=HYPERLINK(1) Lee" and rows[0]["Profile email"] == "jane.roe@example.com"
    assert rows[0]["Queue"] == "1" and rows[0]["Status"] == "pending" and rows[0]["Price"] == "100"
    assert PASSWORD not in body and "•" not in body


def test_a_status_change_is_confirmed_and_cancelling_refunds(shop):
    lead, profile = customer(tokens=500)
    placed = order(lead, profile)
    assert wallet.balance(lead.id) == 400
    confirm = page(shop.get(f"/orders/status/?id={placed.id}&to=cancelled"))
    assert "Change order #1 to cancelled?" in confirm
    assert "Cancelling refunds 100 tokens to the customer's balance" in confirm
    assert Order.get_by_id(placed.id).status == "pending"  # asking changes nothing
    response = shop.post("/orders/status/", data={"id": placed.id, "to": "cancelled",
                                                  "note": "Customer asked"}, follow_redirects=True)
    text = page(response)
    assert "Order #1: pending → cancelled. 100 tokens went back to the customer's balance." in text
    assert Order.get_by_id(placed.id).status == "cancelled" and wallet.balance(lead.id) == 500
    refund = LedgerEntry.get(LedgerEntry.kind == "refund")
    assert (refund.amount, refund.order_id, refund.balance_after) == (100, placed.id, 500)
    assert "refund" in text and "+100" in text and "Customer asked" in text  # on the order's page
    assert "refund" in page(shop.get(f"/customers/details/?id={lead.id}"))
    assert AuditEntry.get(AuditEntry.event == "order.status_changed").entity_id == placed.id


def test_a_change_back_to_the_list_keeps_its_filters(shop):
    lead, profile = customer()
    placed = order(lead, profile)
    response = shop.post("/orders/status/", data={"id": placed.id, "to": "processing",
                                                  "url": "/orders/?search=roe"})
    assert response.headers["Location"] == "/orders/?search=roe"
    assert Order.get_by_id(placed.id).status == "processing"


def test_a_change_the_rules_forbid_is_refused_with_a_message(shop):
    lead, profile = customer()
    placed = order(lead, profile)
    with pytest.raises(orders.OrderNotAllowed) as refusal:  # what the service says, shown as it is
        orders.change_status(PANEL, placed.id, "completed")
    text = page(shop.post("/orders/status/", data={"id": placed.id, "to": "completed"},
                          follow_redirects=True))
    assert str(refusal.value) in text and Order.get_by_id(placed.id).status == "pending"
    text = page(shop.get(f"/orders/status/?id={placed.id}&to=completed", follow_redirects=True))
    assert "here it can become processing or cancelled (to give it to an operator, use Assign)" in text
    text = page(shop.post("/orders/status/", data={"id": placed.id, "to": "assigned"},
                          follow_redirects=True))
    assert "An order is assigned by taking it or giving it to an operator." in text
    orders.cancel(PANEL, placed.id)
    text = page(shop.post("/orders/status/", data={"id": placed.id, "to": "pending"},
                          follow_redirects=True))
    assert "Order #1 is cancelled, which is final." in text
    assert "This status is final." in text
    assert LedgerEntry.select().where(LedgerEntry.kind == "refund").count() == 1


def test_bulk_assign_to_an_operator(shop, make_user):
    lead, profile = customer()
    one, two, three = (order(lead, profile) for _ in range(3))
    orders.cancel(PANEL, three.id)
    operator = make_user("operator", first_name="Olga")
    make_user("sales", first_name="Sam")
    response = shop.post("/orders/action/", data={"action": "assign",
                                                  "rowid": [one.id, two.id, three.id]})
    assert response.status_code == 302 and "/orders/assign/?ids=1&ids=2&ids=3" in response.headers["Location"]
    chooser = page(shop.get(response.headers["Location"]))
    assert "Assign 3 orders to an operator" in chooser and "Olga" in chooser and "Sam" not in chooser
    text = page(shop.post("/orders/assign/", data={"ids": [one.id, two.id, three.id],
                                                   "operator_id": operator.id}, follow_redirects=True))
    assert "Assigned 2 orders (#1, #2)." in text
    assert "Order #3 was not changed: Order #3 is cancelled, not waiting in the queue." in text
    assert [o.operator_id for o in Order.select().order_by(Order.id)] == [operator.id, operator.id, None]
    text = page(shop.post("/orders/assign/", data={"ids": [one.id]}, follow_redirects=True))
    assert "Choose an operator." in text
    text = page(shop.post("/orders/assign/", data={"ids": ["x"]}, follow_redirects=True))
    assert "Choose the orders to assign first." in text


def test_bulk_cancel_refunds_each_and_says_why_not_the_others(shop):
    lead, profile = customer(tokens=300)
    one, two = order(lead, profile), order(lead, profile)
    orders.cancel(PANEL, two.id)
    text = page(shop.post("/orders/action/", data={"action": "cancel", "rowid": [one.id, two.id]},
                          follow_redirects=True))
    assert "Cancelled 1 order (#1)." in text
    assert "Order #2 was not changed: Order #2 is cancelled, which is final." in text
    assert "Their prices went back to the customers' balances." in text
    assert wallet.balance(lead.id) == 300 and wallet.problems(lead.id) == []


def test_more_orders_than_a_bulk_change_takes_are_refused_at_once(shop):
    lead, profile = customer(tokens=300)
    one = order(lead, profile)
    many = [one.id] + list(range(10**6, 10**6 + orders.MAX_BULK))
    for response in (shop.post("/orders/action/", data={"action": "cancel", "rowid": many},
                               follow_redirects=True),
                     shop.post("/orders/assign/", data={"ids": many}, follow_redirects=True)):
        assert "At most 500 orders can be changed at once" in page(response)
    assert Order.get_by_id(one.id).status == "pending" and wallet.balance(lead.id) == 200


def test_orders_move_up_and_down_the_queue(shop):
    lead, profile = customer()
    one, two, three = (order(lead, profile) for _ in range(3))
    text = page(shop.post("/orders/move/", data={"id": three.id, "direction": "up"}, follow_redirects=True))
    assert "Order #3 moved up." in text
    assert [o.id for o in orders.queue()] == [one.id, three.id, two.id]
    text = page(shop.post("/orders/move/", data={"id": one.id, "direction": "up"}, follow_redirects=True))
    assert "Order #1 is already the first of its kind (regular) in the queue." in text
    text = page(shop.post("/orders/move/", data={"id": one.id, "direction": "sideways"}, follow_redirects=True))
    assert "An order moves up or down." in text
    response = shop.post("/orders/move/", data={"id": two.id, "direction": "down", "url": "/orders/?page=0"})
    assert response.headers["Location"] == "/orders/?page=0"


def test_a_completed_order_runs_again_paid_or_free(shop, make_user):
    lead, profile = customer(tokens=1000)
    placed = order(lead, profile)
    orders.assign(PANEL, placed.id, make_user("operator").id)
    orders.change_status(PANEL, placed.id, "completed")
    text = page(shop.post("/orders/rerun/", data={"id": placed.id}, follow_redirects=True))
    assert "Order #2 runs order #1 again, for 100 tokens." in text and wallet.balance(lead.id) == 800
    text = page(shop.post("/orders/rerun/", data={"id": placed.id, "free": "1"}, follow_redirects=True))
    assert "Order #3 runs order #1 again, free of charge." in text and wallet.balance(lead.id) == 800
    assert Order.get_by_id(3).rerun_of_id == placed.id and Order.get_by_id(3).price == 0
    assert LedgerEntry.select().where(LedgerEntry.order == 3).count() == 0
    text = page(shop.post("/orders/rerun/", data={"id": 2}, follow_redirects=True))
    assert "Only a completed order can be run again; order #2 is pending." in text


def test_notes_are_added_to_the_order(shop):
    lead, profile = customer()
    placed = order(lead, profile)
    text = page(shop.post("/orders/note/", data={"id": placed.id, "text": "Call first"}, follow_redirects=True))
    assert "Note added." in text and "admin panel (boss): Call first" in text
    text = page(shop.post("/orders/note/", data={"id": placed.id, "text": " "}, follow_redirects=True))
    assert "A note must be 1 to 2000 characters." in text


def test_the_password_is_masked_until_revealed_and_the_reveal_is_audited(shop):
    lead, profile = customer()
    placed = order(lead, profile)
    assert PASSWORD not in text_of(shop.get(f"/orders/details/?id={placed.id}"))
    assert PASSWORD not in text_of(shop.get("/orders/"))
    assert AuditEntry.select().where(AuditEntry.event == "customer_profile.password_revealed").count() == 0
    response = shop.post("/orders/reveal/", data={"id": placed.id})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert PASSWORD in text_of(response)
    entry = AuditEntry.get(AuditEntry.event == "customer_profile.password_revealed")
    assert (entry.entity, entry.entity_id, entry.actor_kind) == ("customer_profile", profile.id, "panel")
    assert PASSWORD not in text_of(shop.get(f"/orders/details/?id={placed.id}"))  # not kept


def test_names_and_notes_are_escaped(shop):
    lead, profile = customer(XSS, XSS, first_name=XSS, city=XSS)
    placed = order(lead, profile)
    orders.add_note(PANEL, placed.id, XSS)
    for url in ("/orders/", f"/orders/details/?id={placed.id}", f"/orders/status/?id={placed.id}&to=cancelled",
                f"/orders/assign/?ids={placed.id}", "/orders/?search=" + XSS):
        assert XSS not in text_of(shop.get(url)), url
    assert "&lt;script&gt;" in text_of(shop.get(f"/orders/details/?id={placed.id}"))


def test_odd_ids_and_values_get_an_answer_not_a_server_error(shop):
    lead, profile = customer()
    order(lead, profile)
    response = shop.get("/orders/details/?id=%C2%B2", follow_redirects=True)
    assert "Record does not exist." in text_of(response)
    assert shop.get("/orders/status/?id=999&to=cancelled").status_code == 404
    for url in ("/orders/move/", "/orders/rerun/", "/orders/note/", "/orders/reveal/", "/orders/status/"):
        assert shop.post(url, data={"id": "²"}).status_code == 404, url
    odd = ["/orders/?flt0_0=bogus", "/orders/?flt0_1=abc", f"/orders/?flt0_1={2**70}",
           "/orders/?flt0_3=2026-13-01+to+x", "/orders/?sort=99", "/orders/?search=%00",
           "/orders/export/csv/?flt0_2=%C2%B2", "/orders/assign/?ids=%C2%B2", "/orders/status/?id=1&to=%00"]
    assert [url for url in odd if shop.get(url).status_code >= 500] == []
    posts = [("/orders/assign/", {"ids": "1", "operator_id": "²"}),
             ("/orders/assign/", {"ids": "1", "operator_id": "1"}),
             ("/orders/action/", {"action": "cancel", "rowid": ["²", str(2**70)]}),
             ("/orders/status/", {"id": "1", "to": "x" * 5000}), ("/orders/note/", {"id": "1", "text": "\x00"})]
    assert [url for url, data in posts if shop.post(url, data=data).status_code >= 500] == []
    assert Order.get_by_id(1).status == "pending" and Order.get_by_id(1).operator_id is None


def test_the_order_pages_need_a_login(make_app):
    client = make_app(SHOP="1").test_client()
    for url in ("/orders/", "/orders/details/?id=1", "/orders/export/csv/", "/orders/status/?id=1&to=cancelled"):
        assert client.get(url).headers["Location"].startswith("/login"), url
    for url in ("/orders/status/", "/orders/assign/", "/orders/move/", "/orders/rerun/", "/orders/note/",
                "/orders/reveal/", "/orders/action/"):
        assert client.post(url, data={"id": "1"}).headers["Location"].startswith("/login"), url


def test_order_forms_need_a_csrf_token(make_app):
    client = make_app(csrf=True, SHOP="1", DATA_ENCRYPTION_KEY=KEY).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    lead, profile = customer()
    placed = order(lead, profile)
    for url, data in (("/orders/status/", {"id": placed.id, "to": "cancelled"}),
                      ("/orders/action/", {"action": "cancel", "rowid": [placed.id]}),
                      ("/orders/reveal/", {"id": placed.id}), ("/orders/move/", {"id": placed.id, "direction": "up"}),
                      ("/orders/note/", {"id": placed.id, "text": "x"})):
        assert client.post(url, data=data).status_code == 400, url
    assert Order.get_by_id(placed.id).status == "pending" and Order.get_by_id(placed.id).notes == ""
    form = text_of(client.get(f"/orders/status/?id={placed.id}&to=cancelled"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = client.post("/orders/status/", data={"id": placed.id, "to": "cancelled", "csrf_token": token})
    assert response.status_code == 302 and Order.get_by_id(placed.id).status == "cancelled"
