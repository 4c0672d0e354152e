"""The shop (issue 12): packages, customers' token wallets and their ledger, orders in a queue."""
