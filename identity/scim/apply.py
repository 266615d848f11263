"""Every SCIM write hands the people it touched to the sync (``identity.services.sync``), in the same transaction:
a user created, replaced or patched, or whose groups changed, is applied (mapped, created or updated, given or
withdrawn roles; ``active: false`` deactivates); a user deleted is removed (deactivated).

A person the sync cannot map (an e-mail that is not one, a time zone that does not exist) refuses the SCIM write
with a 400 naming the attribute, and nothing is written: the IdP shows the error in its provisioning log. Two
exceptions, logged instead: a person being deactivated (``active: false``) is withdrawn all the same, as if deleted;
and when a group's change re-applies its members, one member's problem does not refuse the group.
"""

import logging
from collections.abc import Iterable
from datetime import datetime

from scim2_models import InvalidValueException

from identity.models import IdentitySource
from identity.scim.entries import user_entries
from identity.scim.models import ScimUser
from identity.services.sync import EntryError, entries_apply, entry_remove

logger = logging.getLogger(__name__)


def users_apply(*, source: IdentitySource, users: Iterable[ScimUser], now: datetime, strict: bool = True) -> None:
    """Apply ``users`` to their learners and remember each one's learner. ``strict``: a problem refuses the write."""
    users = [user for user in users if user.deleted_at is None]
    if not users:
        return
    result = entries_apply(source=source, entries=user_entries(source=source, users=users), now=now)
    by_remote_id = {str(user.pk): user for user in users}
    for outcome in result.outcomes:
        user = by_remote_id.get(outcome.remote_id)
        if user is not None and outcome.learner_id is not None and user.learner_id != outcome.learner_id:
            ScimUser.objects.filter(pk=user.pk).update(learner_id=outcome.learner_id)
            user.learner_id = outcome.learner_id
    refused = []
    for error in result.errors:
        user = users[error.index] if error.index is not None and 0 <= error.index < len(users) else None
        if user is not None and not user.active:
            # A leaver the sync cannot map (a mapping added since, a value gone bad) still leaves: withdrawn as if
            # deleted, which needs no mapping. Refusing would keep them active for as long as the IdP retries.
            entry_remove(source=source, remote_id=str(user.pk), now=now)
            _log(source, error, "identity.scim.withdrawn_unmapped")
        else:
            refused.append(error)
    if refused and strict:
        error = refused[0]
        where = f"{error.field}: " if error.field else ""
        raise InvalidValueException(detail=f"{where}{error.message} (the learner of {error.entry} cannot be written)")
    for error in refused:
        _log(source, error, "identity.scim.apply_failed")


def user_remove(*, source: IdentitySource, user: ScimUser, now: datetime) -> None:
    """The IdP deleted the person: the sync deactivates their learner (their link stays, a return reactivates)."""
    entry_remove(source=source, remote_id=str(user.pk), now=now)


def _log(source: IdentitySource, error: EntryError, event: str) -> None:
    logger.warning(
        event, extra={"source": source.name, "entry": error.entry, "field": error.field, "error": error.message}
    )
