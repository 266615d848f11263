import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in _known_timezones():
        raise ValidationError(
            "%(value)s is not an IANA time zone name (such as Europe/Berlin or UTC).",
            code="unknown_timezone",
            params={"value": value},
        )


def validate_attributes(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Attributes must be a JSON object of name: value pairs.", code="not_an_object")
    bad = [name for name in value if not isinstance(name, str) or not name.isidentifier()]
    if bad:
        raise ValidationError(
            "Attribute names must be identifiers usable in conditions (letters, digits, _): %(names)s.",
            code="bad_attribute_name",
            params={"names": ", ".join(map(str, bad))},
        )
