"""The micro-surveys a learner is asked on their page: one per module they have completed, until they answer it."""

from identity.models import Learner
from insights.models import Survey
from playbooks.models import ModuleProgress, ProgressStatus
from signals_app.event_input import SURVEY_ANSWERED
from signals_app.models import Event

SURVEYS_SHOWN = 3  # at most this many at a time, so that the page stays about the learner's next step


def surveys_due(*, learner: Learner) -> list[Survey]:
    """Active surveys of the modules the learner has completed and not yet answered (the API counts too)."""
    completed = ModuleProgress.objects.filter(enrollment__learner=learner, status=ProgressStatus.COMPLETED)
    answered = Event.objects.filter(learner=learner, type=SURVEY_ANSWERED).values("module")
    due = (
        Survey.objects.filter(is_active=True, module_id__in=completed.values("module_id"))
        .exclude(module__slug__in=answered)
        .select_related("module")
        .order_by("module__slug")
    )
    return list(due[:SURVEYS_SHOWN])
