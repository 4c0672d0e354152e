"""The catalogue and quotes (services/shop/catalogue.py), on SQLite and Postgres."""
import datetime
import json

import pytest

from models import Order, Package
from services.core import audit
from services.shop import catalogue, orders, wallet
from tests.shop.conftest import NOW, PANEL

NEW = {"code": "sites_2000", "name": "2000 sites", "kind": "package", "sites": 2000,
       "price": 1800, "subscriber_price": 1500, "position": 20}


def test_the_seeded_packages_in_their_order_and_the_addon(any_db):
    listed = catalogue.packages()
    assert [(p.sites, p.price, p.subscriber_price) for p in listed][:3] == [
        (100, 100, 60), (250, 250, 150), (550, 550, 350)]
    assert len(listed) == 9 and all(p.kind == "package" for p in listed)
    assert (catalogue.addon().code, catalogue.addon().price) == ("email_confirmation", 50)
    Package.update(active=False).where(Package.code.in_(["sites_250", "email_confirmation"])).execute()
    assert [p.sites for p in catalogue.packages()][:2] == [100, 550]
    assert len(catalogue.packages(active_only=False)) == 9
    assert catalogue.addon() is None
    assert catalogue.get(listed[1].id).code == "sites_250"
    with pytest.raises(catalogue.NoSuchPackage, match="no package #9999"):
        catalogue.get(9999)


def test_quotes_for_regular_customers_and_subscribers(customer, package):
    _, lead, _ = customer()
    regular = catalogue.quote(lead.id, package.id, False, NOW)
    assert (regular.price, regular.regular_price, regular.subscriber, regular.saving) == (100, 100, False, 0)
    with_addon = catalogue.quote(lead.id, package.id, True, NOW)
    assert (with_addon.price, with_addon.email_confirmation) == (150, True)
    wallet.set_premium(PANEL, lead.id, NOW + datetime.timedelta(days=1), now=NOW)
    premium = catalogue.quote(lead.id, package.id, True, NOW)
    assert (premium.price, premium.regular_price, premium.subscriber, premium.saving) == (90, 150, True, 60)
    # Premium has ended by the next day: the regular price again.
    assert catalogue.quote(lead.id, package.id, True, NOW + datetime.timedelta(days=2)).price == 150


def test_inactive_packages_addons_and_a_missing_addon_cannot_be_quoted(customer, package):
    _, lead, _ = customer()
    addon = catalogue.addon()
    with pytest.raises(catalogue.NoSuchPackage):
        catalogue.quote(lead.id, addon.id, False)
    Package.update(active=False).where(Package.id == addon.id).execute()
    with pytest.raises(catalogue.CatalogueError, match="email confirmation is not offered"):
        catalogue.quote(lead.id, package.id, True)
    Package.update(active=False).where(Package.id == package.id).execute()
    with pytest.raises(catalogue.NoSuchPackage):
        catalogue.quote(lead.id, package.id, False)


def test_an_admin_adds_a_package_and_changes_it_and_both_are_audited(staff):
    made = catalogue.save_package(staff["admin"], **{**NEW, "price": "1,800"})
    assert (made.code, made.sites, made.price, made.active) == ("sites_2000", 2000, 1800, True)
    assert catalogue.packages()[-1].id == made.id
    changed = catalogue.save_package(PANEL, made.id, subscriber_price=1400, name=" 2000  sites ")
    assert (changed.subscriber_price, changed.name, changed.price) == (1400, "2000 sites", 1800)
    created, updated = reversed(list(audit.entries(entity="package", entity_id=made.id)))
    assert created.event == "package.created" and json.loads(created.changes)["code"] == [None, "sites_2000"]
    assert (updated.event, json.loads(updated.changes)) == ("package.updated",
                                                          {"subscriber_price": [1500, 1400]})
    # Saving the same values changes (and audits) nothing.
    catalogue.save_package(PANEL, made.id, subscriber_price=1400)
    assert audit.entries(entity="package", entity_id=made.id).count() == 2


def test_a_new_line_without_a_code_takes_one_from_its_name(any_db):
    made = catalogue.save_package(PANEL, name="Express check!", kind="addon", price=20,
                                  subscriber_price=10, sites=500)
    assert (made.code, made.kind, made.sites) == ("express_check", "addon", None)


@pytest.mark.parametrize("field, value", [
    ("name", ""), ("name", "x" * 101), ("code", "Bad Code"), ("code", "sites_100"), ("kind", "bundle"),
    ("sites", 0), ("sites", 1_000_001), ("sites", "many"), ("price", -1), ("price", 1_000_001),
    ("price", True), ("subscriber_price", 1801), ("position", "first"), ("colour", "red"),
    ("price", "٣٠٠"), ("price", "1_000"), ("sites", "2e3")])
def test_invalid_packages_are_refused_naming_the_field(any_db, field, value):
    with pytest.raises(catalogue.InvalidPackage) as refused:
        catalogue.save_package(PANEL, **{**NEW, field: value})
    assert refused.value.field == field and str(refused.value) == refused.value.reason
    assert not Package.select().where(Package.code == "sites_2000").exists()


def test_a_code_cannot_be_taken_by_changing_another_package(package):
    other = Package.get(Package.code == "sites_250")
    with pytest.raises(catalogue.InvalidPackage, match="already has the code sites_100"):
        catalogue.save_package(PANEL, other.id, code="sites_100")
    assert catalogue.save_package(PANEL, package.id, code="sites_100").code == "sites_100"


def test_only_admins_edit_the_catalogue(staff, package):
    for who in ("dispatcher", "olga", "sales"):
        with pytest.raises(catalogue.CatalogueNotAllowed):
            catalogue.save_package(staff[who], **NEW)
        with pytest.raises(catalogue.CatalogueNotAllowed):
            catalogue.delete_package(staff[who], package.id)
    assert Package.select().count() == 10


def test_a_package_nobody_ordered_is_deleted_an_ordered_one_deactivated(customer, package):
    actor, lead, profile = customer(tokens=100)
    unused = catalogue.save_package(PANEL, **NEW)
    assert catalogue.delete_package(PANEL, unused.id) == "deleted"
    assert Package.get_or_none(Package.id == unused.id) is None
    orders.place(actor, lead.id, profile.id, package.id, now=NOW)
    assert catalogue.delete_package(PANEL, package.id) == "deactivated"
    assert package.id not in [p.id for p in catalogue.packages()]
    assert Order.get().package_id == package.id
    assert catalogue.delete_package(PANEL, package.id) == "deactivated"
    assert [e.event for e in audit.entries(entity="package")] == ["package.updated", "package.deleted",
                                                                  "package.created"]
