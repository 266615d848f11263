"""A cohort run as the workers run it, in the test's process: the run cut into chunks, then every chunk."""

from signals_app.models import CohortChunk
from signals_app.services.cohorts import cohort_chunk_execute, cohort_run_execute


def cohort_run_here(run_id: int, *, order=reversed) -> None:
    """The run's tasks without a broker; the chunks in ``order`` (last first by default: workers finish in any)."""
    cohort_run_execute(run_id=run_id)
    for index in order(list(CohortChunk.objects.filter(run_id=run_id).values_list("index", flat=True))):
        cohort_chunk_execute(run_id=run_id, chunk=index)
