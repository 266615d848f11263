"""The identity sync's report names the learner attributes that published playbooks' conditions read and a source's
people lack: a branch on ``attributes.region`` is no use if the HR file has no region."""

import pytest

from identity.services.sync import source_sync
from tests.identity.sync_fixtures import *  # noqa: F403  (the fixtures)
from tests.playbooks.test_services_reroute import publish

pytestmark = pytest.mark.django_db


def _missing(run) -> dict[str, dict]:
    return {check["attribute"]: check for check in run.checks if check["code"] == "missing_attribute"}


def test_an_attribute_a_published_condition_reads_and_the_people_lack_is_reported(hr_file):
    publish("support", "support", when='attributes.region == "emea" and attributes.department != "sales"')
    hr_file.write("1,E1,ada@example.com,Ada,support,2,support,yes", "2,E2,bo@example.com,Bo,,1,support,yes")

    missing = _missing(source_sync(source=hr_file.source))

    # Everyone lacks a region; the department is mapped for Ada, and Bo's empty cell leaves it unset.
    assert set(missing) == {"region", "department"}
    assert missing["region"]["count"] == 2
    assert missing["region"]["examples"] == ["1", "2"]
    assert "support v1" in missing["region"]["message"]
    assert missing["department"]["count"] == 1


def test_nothing_is_reported_when_no_published_condition_reads_attributes(hr_file):
    publish("support", "support")
    hr_file.write("1,E1,ada@example.com,Ada,support,2,support,yes")

    assert _missing(source_sync(source=hr_file.source)) == {}
