"""Every channel on, as a deployment with email and Twilio set up has them."""
import pytest

from services.core import policy
from services.core.policy import CHANNELS


@pytest.fixture
def all_channels(monkeypatch):
    monkeypatch.setattr(policy, "_current", policy.Policy(
        channels=frozenset(CHANNELS), email_from="Acme Support <support@acme.example>",
        public_base_url="https://crm.acme.example", secret_key="k" * 40, company="Acme",
        sms_max_segments=2))
    return policy.current()
