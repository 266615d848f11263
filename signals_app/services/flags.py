from typing import Any

from django.utils import timezone

from signals_app.models import Flag


def flag_acknowledge(*, flag: Flag, user: Any) -> Flag:
    """A supervisor has seen the flag; acknowledging twice keeps the first acknowledgement."""
    if flag.acknowledged_at is None:
        flag.acknowledged_at = timezone.now()
        flag.acknowledged_by = user
        flag.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return flag
