"""How often production lets time pass for learners: the beat's clock sweep and the simulator share it.

No Django imports: the Celery app reads it while it is being configured.
"""

from datetime import timedelta

# Time-based conditions (idle_hours, days_enrolled, now.*, windowed signals) are evaluated at this cadence, so an
# idle reminder fires within this long after its condition turns true, live and in a simulation alike.
CLOCK_SWEEP_EVERY = timedelta(minutes=5)
# The outbox is swept at this cadence (messages due at once are sent as soon as they are committed).
DELIVERY_EVERY = timedelta(minutes=1)
