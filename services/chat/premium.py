"""Premium in chat (issue 15): being written by a helper (see /tmp/issue15/SPEC.md)."""


def offer(ctx, user, replace=False):
    raise NotImplementedError


def pressed(ctx, user, action=None, price=None):
    raise NotImplementedError
