"""Writes in signals_app: event ingestion, evaluation, the decision log, flags."""

from signals_app.services.evaluation import (
    learner_evaluate_clock,
    learner_evaluate_pending,
    learners_evaluate_clock,
    learners_evaluate_pending,
)
from signals_app.services.flags import flag_acknowledge
from signals_app.services.ingestion import BatchInvalid, IngestResult, events_ingest

__all__ = [
    "BatchInvalid",
    "IngestResult",
    "events_ingest",
    "flag_acknowledge",
    "learner_evaluate_clock",
    "learner_evaluate_pending",
    "learners_evaluate_clock",
    "learners_evaluate_pending",
]
