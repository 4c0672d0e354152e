"""How many SMS parts a text takes, as carriers count them (and Twilio bills them).

A text made only of the GSM 03.38 alphabet is sent as GSM-7: 160 septets in one SMS,
153 per part of a longer one (each part loses 7 to the concatenation header). The
extension table's characters (€, [, ], {, }, ~, ^, |, \\ and form feed) take two septets,
an escape plus the character, and a part never ends between the two. Any other character
sends the whole text as UCS-2: 70 UTF-16 code units alone, 67 per part, and an emoji
(a surrogate pair, two units) is never split either.
"""
from dataclasses import dataclass

GSM7, UCS2 = "GSM-7", "UCS-2"
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
# encoding -> (units in a single SMS, units per part of a longer one)
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class Segments:
    encoding: str       # "GSM-7" | "UCS-2"
    characters: int     # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int       # 0 for an empty text
    per_segment: int    # the units one part holds at this length: 160/153 or 70/67


def encoding(text):
    """GSM-7 when every character is in the GSM alphabet or its extension, else UCS-2."""
    gsm = GSM7_BASIC | GSM7_EXTENSION
    return GSM7 if all(ch in gsm for ch in text) else UCS2


def units(text, kind):
    """Each character's size in `kind`'s units, in order."""
    if kind == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count(text):
    """Segments of `text` (a str; None counts as empty)."""
    text = text or ""
    kind = encoding(text)
    sizes = units(text, kind)
    total = sum(sizes)
    single, per_part = LIMITS[kind]
    if total <= single:
        return Segments(kind, total, 1 if total else 0, single)
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:   # a two-unit character moves whole to the next part
            parts, used = parts + 1, 0
        used += size
    return Segments(kind, total, parts, per_part)
