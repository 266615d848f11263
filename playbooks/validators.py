import re

from django.core.exceptions import ValidationError

_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def validate_tags(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValidationError('Tags must be a list of strings, e.g. ["basics", "crm"].', code="not_a_list")
    bad = [tag for tag in value if not _TAG.match(tag)]
    if bad:
        raise ValidationError(
            "Tags are lower-case words with digits, - and _: %(tags)s.", code="bad_tag", params={"tags": ", ".join(bad)}
        )
    if len(set(value)) != len(value):
        raise ValidationError("Tags must not repeat.", code="duplicate_tag")
