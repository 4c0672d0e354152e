"""What the payments services say when they refuse something, in plain English."""
PAYMENTS_OFF = "Buying tokens online is not set up here. Write to us and the team will help."
BAD_AMOUNT = "Write a whole number of tokens from {low} to {high}."
INVOICE_FAILED = ("OxaPay could not make the invoice just now, so nothing was charged. "
                  "Please try again in a few minutes.")
