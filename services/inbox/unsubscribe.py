"""The unsubscribe link in every email (List-Unsubscribe, RFC 8058): a token signed with
SECRET_KEY naming the client and the address, so the link works without a login and
cannot be made for someone else. The page is panel/unsubscribe_views.py."""
from itsdangerous import BadSignature, URLSafeSerializer

from models import Lead
from services.core.actors import Actor
from services.delivery.channels import EMAIL
from services.inbox import consent

SALT = "leadgram.unsubscribe"   # keeps these tokens apart from anything else SECRET_KEY signs


def _serializer(secret_key):
    return URLSafeSerializer(secret_key, salt=SALT)


def token_for(settings, lead_id, address):
    return _serializer(settings.secret_key).dumps([int(lead_id), str(address)])


def read_token(settings, token):
    """(lead_id, address) the token was made for, or None when it is not one of ours."""
    if not settings.secret_key or not isinstance(token, str):
        return None
    try:
        lead_id, address = _serializer(settings.secret_key).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(lead_id, int) or not isinstance(address, str):
        return None
    return lead_id, address


def url_for_contact(settings, lead_id, address):
    """The link for the client's mails, or None without PUBLIC_BASE_URL or SECRET_KEY."""
    if not settings.public_base_url or not settings.secret_key:
        return None
    return f"{settings.public_base_url.rstrip('/')}/unsubscribe/{token_for(settings, lead_id, address)}"


def unsubscribe(settings, token, now=None):
    """Opt the token's address out of email: True when it was opted in, False when it
    already was out (or the client is gone), None for a token that is not ours."""
    found = read_token(settings, token)
    if found is None:
        return None
    lead_id, address = found
    lead = Lead.get_or_none(Lead.id == lead_id)
    if lead is None:
        return False
    return consent.opt_out(Actor.system("unsubscribe link"), lead, EMAIL, address, now=now)
