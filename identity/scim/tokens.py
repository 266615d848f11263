"""One bearer token per SCIM source: ``ons_<prefix>_<secret>``, stored as its prefix and SHA-256 hash on the source
(``IdentitySource.token_prefix`` / ``token_hash``), shown once. Issuing another replaces it at once.

The token *is* the source for every SCIM request: the resources read and written are that source's only.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from identity.keys import key_generate, key_matches, key_prefix
from identity.models import AttributeMapping, IdentitySource, RoleSource

SCIM = "ons"  # beside identity.keys' onb (service keys) and onl (learner tokens)

# What a SCIM source without any mapping gets when its first token is issued (editable in the admin afterwards).
# Source attributes are the flat SCIM paths of identity/scim/entries.py.
DEFAULT_EXTERNAL_ID_FROM = "userName"
DEFAULT_MAPPINGS = (
    ("emails[primary].value", "email", ""),
    ("displayName", "display_name", ""),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "attributes.department", ""),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.userName", "attributes.manager", ""),
)


def scim_token_issue(*, source: IdentitySource) -> str:
    """A new token for ``source`` (kind scim), replacing any previous one; only its hash is kept.

    A source with no attribute mappings yet is given the defaults (``DEFAULT_MAPPINGS``; external id from
    ``userName`` when none is set), so that an IdP connected as it comes provisions usable learners.
    """
    if source.kind != RoleSource.SCIM:
        raise ValidationError(
            {"kind": f"{source.name} is a {source.get_kind_display()} source; SCIM tokens are for SCIM sources."},
            code="not_scim",
        )
    token, prefix, hashed = key_generate(SCIM)
    with transaction.atomic():
        source.token_prefix, source.token_hash = prefix, hashed
        fields = ["token_prefix", "token_hash", "updated_at"]
        if not source.attribute_mappings.exists():
            AttributeMapping.objects.bulk_create(
                AttributeMapping(source=source, position=position, source_attribute=name, target=target, transform=t)
                for position, (name, target, t) in enumerate(DEFAULT_MAPPINGS)
            )
            if not source.external_id_from:
                source.external_id_from = DEFAULT_EXTERNAL_ID_FROM
                fields.append("external_id_from")
        source.save(update_fields=fields)
    return token


def scim_token_source(token: str) -> IdentitySource | None:
    """The SCIM source ``token`` was issued for, or None (unknown, replaced, or the source is no longer SCIM)."""
    prefix = key_prefix(token, SCIM)
    if prefix is None:
        return None
    for source in IdentitySource.objects.filter(kind=RoleSource.SCIM, token_prefix=prefix).exclude(token_hash=""):
        if key_matches(token, source.token_hash):
            return source
    return None
