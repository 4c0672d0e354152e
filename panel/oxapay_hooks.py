"""OxaPay's webhook: being written by a helper (issue 15, see /tmp/issue15/SPEC.md)."""
from flask import Blueprint

bp = Blueprint("oxapay_hooks", __name__)
