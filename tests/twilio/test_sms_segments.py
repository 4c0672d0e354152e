"""SMS segment counting (services/delivery/sms_segments.py): GSM-7 and UCS-2 at their
boundaries, and agreeing with the fake Twilio's own count on any text."""
import pytest
from hypothesis import given, settings, strategies as st

from devtools.fake_twilio_server import encoding as fake_encoding, segments as fake_segments
from services.delivery.sms_segments import GSM7, UCS2, count, encoding

GSM_TEXT = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà"
EXTENSION = "^{}\\[~]|€\f"


@pytest.mark.parametrize("text, expected", [
    ("", (GSM7, 0, 0, 160)),
    ("Hi", (GSM7, 2, 1, 160)),
    ("a" * 160, (GSM7, 160, 1, 160)),
    ("a" * 161, (GSM7, 161, 2, 153)),
    ("a" * 306, (GSM7, 306, 2, 153)),
    ("a" * 307, (GSM7, 307, 3, 153)),
    ("€", (GSM7, 2, 1, 160)),
    ("a" * 158 + "€", (GSM7, 160, 1, 160)),     # the escape fits: 160 septets
    ("a" * 159 + "€", (GSM7, 161, 2, 153)),     # one septet over
    # 152 septets then € (2): it does not fit in the first part's 153, so moves whole.
    ("a" * 152 + "€" + "a" * 10, (GSM7, 164, 2, 153)),
    ("a" * 152 + "€" * 77, (GSM7, 306, 3, 153)),
    ("é" * 160, (GSM7, 160, 1, 160)),            # é is in the basic set
    ("ê", (UCS2, 1, 1, 70)),                      # ê is not
    ("я" * 70, (UCS2, 70, 1, 70)),
    ("я" * 71, (UCS2, 71, 2, 67)),
    ("я" * 134, (UCS2, 134, 2, 67)),
    ("я" * 135, (UCS2, 135, 3, 67)),
    ("😀", (UCS2, 2, 1, 70)),                      # a surrogate pair: two units
    ("😀" * 35, (UCS2, 70, 1, 70)),
    ("a" * 69 + "😀", (UCS2, 71, 2, 67)),
    # 66 units then an emoji: it is never split, so it opens part two.
    ("a" * 66 + "😀" + "a" * 3, (UCS2, 71, 2, 67)),
    ("a" * 66 + "😀" * 34, (UCS2, 134, 3, 67)),  # 134 plain units would be 2 parts
    ("a" * 159 + "ü", (GSM7, 160, 1, 160)),
    ("a" * 159 + "`", (UCS2, 160, 3, 67)),        # a backquote is not GSM: all UCS-2
])
def test_counts_at_the_boundaries(text, expected):
    result = count(text)
    assert (result.encoding, result.characters, result.segments, result.per_segment) == expected


def test_every_gsm_character_is_one_septet_and_every_extension_two():
    assert count(GSM_TEXT).encoding == GSM7
    assert count(GSM_TEXT).characters == len(GSM_TEXT)
    for ch in EXTENSION:
        assert count(ch).characters == 2
        assert encoding(ch) == GSM7


def test_none_counts_as_empty():
    assert count(None).segments == 0


def test_a_long_message_counts_like_twilio_bills_it():
    # Ten parts of 153, the most SMS_MAX_SEGMENTS allows.
    assert count("x" * 1530).segments == 10
    assert count("x" * 1531).segments == 11


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from(GSM_TEXT + EXTENSION), st.characters()),
               min_size=1, max_size=400))
def test_agrees_with_the_fake_twilio(text):
    result = count(text)
    assert result.encoding == fake_encoding(text)
    assert result.segments == fake_segments(text)
    limit = 160 if result.encoding == GSM7 else 70
    assert (result.segments == 1) == (result.characters <= limit)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(GSM_TEXT + EXTENSION), min_size=1, max_size=1000))
def test_gsm_parts_hold_what_they_say(text):
    result = count(text)
    assert result.encoding == GSM7
    # Each part holds per_segment septets at most, and only a moved escape leaves room.
    assert result.characters <= result.segments * result.per_segment
    assert result.characters > (result.segments - 1) * (result.per_segment - 1)
