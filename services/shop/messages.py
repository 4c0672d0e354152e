"""What the shop says: the notices customers get in their conversation (Telegram HTML,
user data escaped with h()) and the refusals the services raise (plain text: whoever
shows one escapes it for their page or parse mode). One place, so a translation is a
catalogue."""
from services.core.markup import day_count, h, token_amount

# Refusals of the catalogue (services/shop/catalogue.py) ---------------------------------
NO_SUCH_PACKAGE = "There is no package #{id} on offer."
NO_ADDON = "The email confirmation is not offered at the moment."
ONLY_ADMINS_CATALOGUE = "Only admins can change the catalogue."
UNKNOWN_FIELD = "A package has no field called {field}."
BAD_NAME = "A package's name must be 1 to {limit} characters."
BAD_CODE = ("A package's code must be 1 to 64 lowercase letters, digits, _ or -, starting "
            "with a letter or digit.")
CODE_TAKEN = "Another package already has the code {code}."
BAD_KIND = "A catalogue line is a {choices}."
BAD_SITES = "A package's number of sites must be a whole number from {low} to {high}."
BAD_PRICE = "A price must be a whole number of tokens from {low} to {high}."
SUBSCRIBER_PRICE_ABOVE = "The subscriber price cannot be above the regular price."
BAD_POSITION = "The position must be a whole number from {low} to {high}."

# Refusals of the wallet (services/shop/wallet.py) ---------------------------------------
INSUFFICIENT = ("That needs {needed} tokens and the balance is {balance}: {shortfall} "
                "more tokens are needed.")
BALANCE_TOO_LARGE = ("That would take the balance of {balance} tokens past {limit}, the most "
                     "a wallet holds.")
BAD_LEDGER_KIND = "There is no kind of ledger entry called {kind}."
BAD_AMOUNT = "The amount must be a whole number of tokens, not zero, at most {limit} either way."
BAD_ADJUSTMENT_KIND = "An adjustment is an {choices}."
NEGATIVE_BONUS = "A bonus adds tokens; take tokens away with an adjustment."
BAD_REASON = "Say why the balance changes, in 1 to {limit} characters."
NO_SUCH_CUSTOMER = "There is no customer #{id}."
ONLY_ADMINS_ADJUST = "Only admins can change a balance."
ONLY_ADMINS_PREMIUM = "Only admins can change a Premium subscription."
WALLET_PROBLEM = ("Wallet #{wallet} (customer #{lead}): balance {balance}, ledger total "
                  "{total}, last ledger balance {last}.")

# Premium (services/shop/premium.py) ------------------------------------------------------
PREMIUM_PRICE_CHANGED = "Premium now costs {price} tokens (it was {expected}); please confirm again."
NOT_YOUR_PREMIUM = "You can buy Premium only for yourself."
ONLY_CUSTOMERS_BUY_PREMIUM = "Premium is bought by the customer, or by an admin for them."
BAD_PREMIUM_DAYS = "Premium is granted for a whole number of days from 1 to {limit}."
NO_PREMIUM_TO_END = "Customer #{id} has no Premium to end."
PREMIUM_REFERENCE = "Premium, {days} days"
PREMIUM_RECEIPT = "Premium, {days} days (receipt {receipt})"

# Refusals of orders (services/shop/orders.py) -------------------------------------------
ALREADY_PLACED = "This confirmation already placed order #{id}."
NO_SUCH_ORDER = "There is no order #{id}."
NO_SUCH_PROFILE = "That profile is not one of this customer's."
NOT_YOUR_CUSTOMER = "You can order only for yourself."
ONLY_CUSTOMERS_ORDER = "Orders are placed by the customer, or by an admin for them."
PRICE_CHANGED = "The price is now {price} tokens (it was {expected}); please confirm again."
STATUS_FINAL = "Order #{id} is {status}, which is final."
STATUS_NOT_NEXT = "Order #{id} is {status}; it can become {allowed}, not {to}."
STATUS_CHANGED_MEANWHILE = "Order #{id} was changed meanwhile; look again."
USE_TAKE = "An order is assigned by taking it or giving it to an operator."
ALREADY_TAKEN = "Order #{id} was already taken by {operator}."
NOT_QUEUED = "Order #{id} is {status}, not waiting in the queue."
ONLY_ADMINS_CANCEL = "Only admins can cancel an order."
ONLY_ADMINS_ASSIGN = "Only admins can give an order to an operator."
ONLY_ADMINS_MOVE = "Only admins can move orders in the queue."
ONLY_ADMINS_FREE = "Only admins can rerun an order free of charge."
ONLY_OPERATORS = "Only operators and admins work the queue."
NOT_YOUR_ORDER = "Order #{id} is assigned to {operator}, not to you."
NOT_ASSIGNED = "Order #{id} is {status}; only an order being worked on can be completed or released."
NOT_AN_OPERATOR = "That member is not an operator or admin."
ONLY_ASSIGNED_SEE_PASSWORD = "Only the operator doing the order, or an admin, can see the password."
RERUN_NOT_COMPLETED = "Only a completed order can be run again; order #{id} is {status}."
BAD_NOTE = "A note must be 1 to {limit} characters."
BAD_DIRECTION = "An order moves up or down."
TOO_MANY_AT_ONCE = "At most {limit} orders can be changed at once; choose fewer."
BAD_BULK_ACTION = "Orders can be assigned or cancelled together, nothing else."
REFUND_REFERENCE = "order #{id} cancelled"
ORDER_REFERENCE = "order #{id}"
NOBODY = "nobody"

# The customer's notices (services/shop/notifications.py) --------------------------------
STATUS_NOTICES = {
    "processing": "⏳ Your order #{id} ({package}) is being processed.",
    "pending": "🕒 Your order #{id} ({package}) is waiting in the queue again.",
    "assigned": "👷 An operator is now working on your order #{id} ({package}).",
    "completed": "✅ Your order #{id} ({package}) is complete. Thank you!",
    "cancelled": "❌ Your order #{id} ({package}) was cancelled.",
}


def new_order_alert(order):
    """What operators are told of a new order."""
    extra = " + email confirmation" if order.email_confirmation else ""
    star = " · ⭐ priority" if order.priority else ""
    again = f" (a rerun of #{order.rerun_of_id})" if order.rerun_of_id else ""
    return (f"🧾 New order #{order.id}{again}: <b>{h(order.package_name)}</b>{extra}{star}. "
            f"/queue shows the queue.")


def order_given(order, by):
    """What an operator is told when someone else gives them an order."""
    extra = " + email confirmation" if order.email_confirmation else ""
    return (f"📂 Order #{order.id} (<b>{h(order.package_name)}</b>{extra}) is yours now: "
            f"{h(by)} gave it to you. /queue shows it.")


def order_created(order, position):
    """An order someone on the team placed for the customer."""
    where = f" It is number {position} in the queue." if position else ""
    return (f"🧾 Order #{order.id} for <b>{h(order.package_name)}</b> was placed for you "
            f"({token_amount(order.price)}).{where}")


def status_changed(order, to_status, position=None, refunded=0):
    text = STATUS_NOTICES[to_status].format(id=order.id, package=f"<b>{h(order.package_name)}</b>")
    if to_status in ("pending", "processing") and position:
        text += f" It is number {position} in the queue."
    if refunded:
        text += f" {token_amount(refunded)} went back to your balance."
    return text


def wallet_adjusted(amount, reason, balance):
    verb = "added to" if amount > 0 else "taken from"
    return (f"💰 {token_amount(abs(amount))} {verb} your balance: {h(reason)}. "
            f"Your balance is now {token_amount(balance)}.")


# Premium and the balance (services/chat/balance_alerts.py); `until` is a time as the
# customer reads it, with its zone.
def premium_expiring(until, price):
    return (f"⭐ Your Premium ends on <b>{h(until)}</b>. Renew it for {token_amount(price)} to keep "
            f"the subscriber prices and the front of the queue: renewing now adds 30 days to "
            f"that date, so nothing is lost.")


def premium_expired(price):
    return (f"⭐ Your Premium has ended: from now on you pay the regular prices and your orders "
            f"queue in turn. Renew it for {token_amount(price)} whenever you like.")


def premium_granted(days, until):
    return f"⭐ Our team gave you {day_count(days)} of Premium: it is yours until <b>{h(until)}</b>."


def premium_bought_for_you(price, until):
    return (f"⭐ Our team bought you 30 days of Premium for {token_amount(price)} from your balance: "
            f"it is yours until <b>{h(until)}</b>.")


def premium_ended():
    return "⭐ Our team ended your Premium: from now on you pay the regular prices."


def low_balance(balance, threshold):
    return (f"🪙 Your balance is down to <b>{token_amount(balance)}</b> (below {threshold}). Top up "
            f"now so your next order is not held up.")

