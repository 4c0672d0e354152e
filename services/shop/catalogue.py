"""The catalogue: packages of sites and the email-confirmation add-on, each with a
regular and a Premium subscriber's price, and the quote a customer is charged.
Admins edit it in the panel; a package someone ordered is deactivated, not deleted,
so its orders keep pointing at it.
"""
import re
from dataclasses import dataclass

from peewee import IntegrityError

from models import Order, Package, db, utcnow
from services.core import events
from services.core.inputs import InvalidField, parse_bounded_int, plain_text
from services.shop import messages, wallet
from services.shop.access import is_admin
from services.shop.default_catalogue import EMAIL_CONFIRMATION

KINDS = ("package", "addon")
MAX_NAME = 100
MAX_SITES = 1_000_000
MAX_PRICE = 1_000_000
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
EDITABLE = ("code", "name", "kind", "sites", "price", "subscriber_price", "position", "active")


class CatalogueError(ValueError):
    """A catalogue request refused; the message says why in plain English."""


class NoSuchPackage(CatalogueError):
    def __init__(self, package_id):
        super().__init__(messages.NO_SUCH_PACKAGE.format(id=package_id))
        self.package_id = package_id


class InvalidPackage(InvalidField, CatalogueError):
    """A value the catalogue cannot hold (the message is the reason alone)."""


class CatalogueNotAllowed(CatalogueError):
    pass


@dataclass(frozen=True)
class Quote:
    package: Package
    email_confirmation: bool
    price: int            # what this customer pays today
    regular_price: int    # what a customer without Premium pays
    subscriber: bool

    @property
    def saving(self):
        return self.regular_price - self.price


def packages(active_only=True):
    query = Package.select().where(Package.kind == "package")
    if active_only:
        query = query.where(Package.active == True)  # noqa: E712
    return list(query.order_by(Package.position, Package.id))


def addon():
    """The email confirmation, when it is on offer."""
    return Package.get_or_none(Package.code == EMAIL_CONFIRMATION, Package.active == True)  # noqa: E712


def get(package_id):
    package = Package.get_or_none(Package.id == package_id)
    if package is None:
        raise NoSuchPackage(package_id)
    return package


def quote(lead_id, package_id, email_confirmation, now=None):
    """What `lead_id` pays today for the package (and the add-on): a subscriber pays the
    subscriber prices. Only an active package (and an offered add-on) can be quoted."""
    package = get(package_id)
    if package.kind != "package" or not package.active:
        raise NoSuchPackage(package_id)
    subscriber = wallet.is_subscriber(lead_id, now)
    lines = [package]
    if email_confirmation:
        extra = addon()
        if extra is None:
            raise CatalogueError(messages.NO_ADDON)
        lines.append(extra)
    price = sum(p.subscriber_price if subscriber else p.price for p in lines)
    return Quote(package, bool(email_confirmation), price, sum(p.price for p in lines), subscriber)


def save_package(actor, package_id=None, **values):
    """Create a catalogue line, or change the given fields of one; returns the Package."""
    if not is_admin(actor):
        raise CatalogueNotAllowed(messages.ONLY_ADMINS_CATALOGUE)
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise InvalidPackage(unknown[0], messages.UNKNOWN_FIELD.format(field=unknown[0]))
    now = utcnow()
    try:
        with db.atomic():
            row = get(package_id) if package_id is not None else None
            current = {name: getattr(row, name) for name in EDITABLE} if row else {}
            clean = _clean({**current, **values}, row)
            if row is None:
                row = Package.create(**clean, created_at=now, updated_at=now)
                events.emit("package.created", actor, "package", row.id, events.created(row), now=now)
                return row
            changes = events.changed(row, clean)
            if changes:
                Package.update(**clean, updated_at=now).where(Package.id == row.id).execute()
                events.emit("package.updated", actor, "package", row.id, changes, now=now)
            return Package.get_by_id(row.id)
    except IntegrityError:  # another admin saved the same code meanwhile
        raise InvalidPackage("code", messages.CODE_TAKEN.format(code=values.get("code"))) from None


def delete_package(actor, package_id):
    """"deleted", or "deactivated" for a package with orders (they keep their history)."""
    if not is_admin(actor):
        raise CatalogueNotAllowed(messages.ONLY_ADMINS_CATALOGUE)
    now = utcnow()
    with db.atomic():
        row = get(package_id)
        if Order.select().where(Order.package == row.id).exists():
            if row.active:
                Package.update(active=False, updated_at=now).where(Package.id == row.id).execute()
                events.emit("package.updated", actor, "package", row.id,
                            {"active": (True, False)}, now=now)
            return "deactivated"
        Package.delete().where(Package.id == row.id).execute()
        events.emit("package.deleted", actor, "package", row.id, events.deleted(row), now=now)
    return "deleted"


def _clean(values, row):
    """The editable fields validated; InvalidPackage names the first bad one."""
    name = " ".join(plain_text(str(values.get("name") or "")).split())
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidPackage("name", messages.BAD_NAME.format(limit=MAX_NAME))
    code = plain_text(str(values.get("code") or "")).strip().casefold()
    if not code and row is None:  # a new line may be named only: its code follows the name
        code = re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")[:64]
    if not SLUG.fullmatch(code):
        raise InvalidPackage("code", messages.BAD_CODE)
    taken = Package.select().where(Package.code == code)
    if row is not None:
        taken = taken.where(Package.id != row.id)
    if taken.exists():
        raise InvalidPackage("code", messages.CODE_TAKEN.format(code=code))
    kind = str(values.get("kind") or "package").strip().casefold()
    if kind not in KINDS:
        raise InvalidPackage("kind", messages.BAD_KIND.format(choices=" or ".join(KINDS)))
    sites = None
    if kind == "package":
        sites = _number(values.get("sites"), "sites", 1, MAX_SITES, messages.BAD_SITES)
    price = _number(values.get("price"), "price", 0, MAX_PRICE, messages.BAD_PRICE)
    subscriber_price = _number(values.get("subscriber_price"), "subscriber_price", 0, MAX_PRICE,
                               messages.BAD_PRICE)
    if subscriber_price > price:
        raise InvalidPackage("subscriber_price", messages.SUBSCRIBER_PRICE_ABOVE)
    position = _number(values.get("position", 0) or 0, "position", -MAX_SITES, MAX_SITES,
                       messages.BAD_POSITION)
    active = values.get("active", True)
    if isinstance(active, str):  # a form's checkbox or select
        active = active.strip().casefold() in ("1", "true", "yes", "on", "y")
    return {"code": code, "name": name, "kind": kind, "sites": sites, "price": price,
            "subscriber_price": subscriber_price, "position": position, "active": bool(active)}


def _number(value, field, low, high, message):
    """A whole number in ASCII digits ("1,000" as people write it too); "٣" and "1_0" are not."""
    if isinstance(value, str):
        value = value.replace(",", "")
    number = parse_bounded_int(value, low, high)
    if number is None:
        raise InvalidPackage(field, message.format(low=low, high=high))
    return number
