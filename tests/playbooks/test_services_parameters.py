"""A playbook's parameters through the database: imported into the version's rows, exported again as written, and
read by the worker's evaluation of a real learner."""

from datetime import timedelta

import pytest
import yaml

from identity.services import learner_create, role_upsert
from playbooks.engine.document import dump_yaml
from playbooks.models import Enrollment
from playbooks.selectors import version_spec
from playbooks.services import playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.playbooks.engine.test_engine_properties import T0
from tests.playbooks.engine.test_parameters import TEXT

pytestmark = pytest.mark.django_db


def test_parameters_are_stored_and_exported_as_written():
    version = playbook_import(text=TEXT, publish=True).version

    exported = yaml.safe_load(dump_yaml(version_spec(version=version)))

    assert exported["parameters"] == {
        "fast_threshold": 80,
        "ratio": 0.5,
        "track_name": "fast",
        "offer_fast_track": True,
    }
    assert [type(v) for v in exported["parameters"].values()] == [int, float, str, bool]


@pytest.mark.parametrize(
    "threshold, score, module", [(80, 85, "fast-track"), (80, 75, "full-course"), (70, 75, "fast-track")]
)
def test_the_worker_branches_on_the_versions_parameter(threshold, score, module):
    playbook_import(text=TEXT.replace("fast_threshold: 80", f"fast_threshold: {threshold}"), publish=True)
    learner = learner_create(external_id="p1", roles=[role_upsert(slug="agent", name="Agent")], attributes={})
    events = [
        {
            "id": "q1",
            "learner": "p1",
            "type": "quiz_answered",
            "occurred_at": (T0 + timedelta(minutes=1)).isoformat(),
            "properties": {"score": score},
        },
        {
            "id": "c1",
            "learner": "p1",
            "type": "module_completed",
            "module": "intro",
            "occurred_at": (T0 + timedelta(minutes=2)).isoformat(),
        },
    ]
    events_ingest(body={"events": events}, source="key:1", now=T0 + timedelta(minutes=3))

    learner_evaluate_pending(learner_id=learner.pk)

    assert Enrollment.objects.get(learner=learner).current_module.slug == module
