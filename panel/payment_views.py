"""Payments and reconciliation: being written by a helper (issue 15, see /tmp/issue15/SPEC.md)."""
from panel.shop_base import ShopListView


class PaymentView(ShopListView):
    can_create = can_edit = can_delete = False
