import pytest
from hypothesis import given, settings, strategies as st

from services.crm import validation
from services.crm.validation import ValidationError


@pytest.mark.parametrize("raw, expected", [
    ("Ann@Example.COM", "ann@example.com"),
    ("  bob.smith+crm@example.co.uk ", "bob.smith+crm@example.co.uk"),
])
def test_email_is_normalised(raw, expected):
    assert validation.email(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "not-an-email", "a@", "@b.com", "a b@c.com", "x" * 400])
def test_bad_email_is_refused_with_a_reason(raw):
    with pytest.raises(ValidationError) as error:
        validation.email(raw)
    assert str(error.value)


@pytest.mark.parametrize("raw, expected", [
    ("+44 20 7946 0958", "+442079460958"),
    ("+1 (415) 555-2671", "+14155552671"),
    ("+49 30 901820", "+4930901820"),
])
def test_phone_is_stored_as_e164(raw, expected):
    assert validation.phone(raw) == expected


@pytest.mark.parametrize("stored, shown", [
    ("+442079460958", "+44 20 7946 0958"),
    ("+14155552671", "+1 415-555-2671"),
    ("+380441234567", "+380 44 123 4567"),
    # What does not parse as a number is shown as it is.
    ("447911123456", "447911123456"), ("+999123", "+999123"), ("", ""), (None, None),
])
def test_a_stored_phone_is_shown_in_international_format(stored, shown):
    assert validation.display_phone(stored) == shown


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_showing_a_phone_never_raises(value):
    assert isinstance(validation.display_phone(value), str)


@pytest.mark.parametrize("raw", ["12345", "020 7946 0958", "+44 1", "phone", "+999 123 456"])
def test_bad_phone_is_refused(raw):
    with pytest.raises(ValidationError, match="phone|country code"):
        validation.phone(raw)


@pytest.mark.parametrize("raw, expected", [
    ("gb", "GB"), ("GB", "GB"), ("United Kingdom", "GB"), ("germany", "DE"),
    ("DEU", "DE"), ("Ukraine", "UA"), ("united states", "US"),
])
def test_country_accepts_codes_and_names(raw, expected):
    assert validation.country(raw) == expected


def test_ambiguous_country_lists_the_choices():
    with pytest.raises(ValidationError, match="several countries"):
        validation.country("Korea")


@pytest.mark.parametrize("raw", ["ZZ", "Atlantis", "1", ""])
def test_unknown_country_is_refused(raw):
    with pytest.raises(ValidationError):
        validation.country(raw)


@pytest.mark.parametrize("raw, expected", [("  O'Neil_Smith  ", "O'Neil_Smith"), ("Anne   Marie", "Anne Marie")])
def test_names_are_trimmed(raw, expected):
    assert validation.name(raw) == expected


@pytest.mark.parametrize("raw", ["", "123", "x" * 101, "Ann\u0000"])
def test_bad_names_are_refused(raw):
    with pytest.raises(ValidationError):
        validation.name(raw)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="+0123456789 ()-@.abcGBgb"), st.none()))
def test_no_input_crashes_a_validator(raw):
    """Every validator either returns a value or raises ValidationError."""
    for validator in (validation.email, validation.phone, validation.name, validation.country):
        try:
            result = validator(raw)
        except ValidationError as exc:
            assert str(exc)
        else:
            assert isinstance(result, str) and result
