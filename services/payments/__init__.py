"""Crypto top-ups through OxaPay (issue 15): invoices, their webhooks and polling, reconciliation."""
