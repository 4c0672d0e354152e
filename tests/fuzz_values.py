"""Odd values for the fuzz tests of the panel and the chat: what forged URLs, forms,
commands and button data may carry.

SWEEP is tried everywhere, one by one (a random search seldom puts "²" in exactly the
field that breaks); `values` is what the Hypothesis searches draw from.
"""
from hypothesis import strategies as st

PAST_INT64 = str(2**63)
HUGE = "9" * 25
# Unicode digits (int() refuses "²" and reads "٣" as 3), numbers no column holds, NUL
# (Postgres refuses it), a newline (no header may hold one), a URL urlparse refuses.
SWEEP = ["²", "٣", "𝟙", "-1", PAST_INT64, HUGE, "\x00", "1\x00", "\n", "//["]
ODD_VALUES = SWEEP + ["０", "⅗", "0", "1", " 1 ", "+1", "1.0", "1e3", "nan", "inf",
                      str(2**63 - 1), str(-2**63 - 1), "9" * 5000, "", "%", "_", "'",
                      "<b>", "&", "a,b", "a:b", "2026-13-01 to 2026-01-01", "http://[",
                      "javascript:alert(1)"]

values = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=4),  # ² ٣ ０ 𝟙 ⅗ …
    st.integers(-2**70, 2**70).map(str),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),  # no lone surrogates
)


def filled(templates, fields):
    """Strings from `templates` with each "{}" replaced by a value drawn from `fields`."""
    return st.sampled_from(templates).flatmap(lambda template: st.lists(
        fields, min_size=template.count("{}"), max_size=template.count("{}")).map(
        lambda parts: template.format(*parts)))
