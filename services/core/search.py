"""How search compares text, in any script: what is stored for searching (a lead's
`search_name`, a contact's `search_value`, a profile's `search_name`) and what is typed
are both folded by fold(), then the typed form must be contained in the stored one.

A stored folded value is only as new as the fold() that wrote it: changing fold() needs a
migration that folds the stored names and contacts again (as 0010 first filled them).
"""
import unicodedata

# Letters Unicode does not decompose into a base letter and a mark, which people type
# without the stroke (Łódź as lodz, Ørsted as orsted) or as two letters (Æ as ae), and the
# Turkish dotless ı (Işık as isik; casefold() gives i for I and for İ, whose dot goes).
_ALIKE = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t",
                        "æ": "ae", "œ": "oe"})


def fold(text):
    """`text` as search compares it: case-folded (É → é, ß → ss, Σ and ς → σ), compatibility
    forms spelt out (ﬁ → fi, ２ → 2), accents and other combining marks dropped (é → e,
    ё → е, Arabic and Hebrew vowel points), runs of spaces made one. "" for None."""
    text = unicodedata.normalize("NFKD", (text or "").casefold())
    # casefold() first: it turns some marks into letters (U+0345 → ι), which must stay.
    text = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_ALIKE)
    return " ".join(bare.split())


def name_key(first_name, last_name):
    """What a lead's or a customer profile's `search_name` holds."""
    return fold(f"{first_name or ''} {last_name or ''}")
