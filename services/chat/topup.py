"""Buying tokens in chat (issue 15): being written by a helper (see /tmp/issue15/SPEC.md)."""


def start(ctx, user, replace=False):
    raise NotImplementedError


def pressed(ctx, user, action=None, tokens=None, payment_id=None):
    raise NotImplementedError
