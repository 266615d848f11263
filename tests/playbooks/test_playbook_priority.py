"""Several playbooks per learner: the highest priority is served first (ties: the oldest enrolment), the others
come with it in the same one query; ``priority`` and ``on_audience_exit`` in the playbook file and the admin."""

from datetime import timedelta

import pytest
import yaml
from django.urls import reverse

from playbooks.engine.document import document_from_spec, dump_yaml, load_yaml, spec_from_document
from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import Enrollment, EnrollmentStatus, Playbook, PlaybookVersion
from playbooks.selectors import next_module_for_learner, version_spec
from playbooks.services import draft_create, learners_reroute, playbook_import
from tests.playbooks.test_admin_playbooks import _draft_form, _trigger_rows
from tests.playbooks.test_services_reroute import T0, newcomer, playbook_text, publish

pytestmark = pytest.mark.django_db


def _enrol_one_by_one(learner, *slugs: str) -> None:
    """Enrolled in each playbook a day after the previous one (published one by one, as they would be)."""
    for day, slug in enumerate(slugs):
        publish(slug, "support_specialist", extra=PRIORITIES.get(slug, ""))
        learners_reroute(learner_ids=[learner.pk], now=T0 + timedelta(days=day))


PRIORITIES = {"compliance": "priority: 10\n", "optional": "priority: -5\n"}


def _served(answer) -> list[str]:
    return [answer.enrollment.playbook.slug] + [other.enrollment.playbook.slug for other in answer.others]


def test_the_highest_priority_is_served_first_then_the_oldest_enrolment():
    ada = newcomer("ada", "support_specialist")
    _enrol_one_by_one(ada, "optional", "basics", "tools", "compliance")

    answer = next_module_for_learner(learner=ada, others=True)

    assert _served(answer) == ["compliance", "basics", "tools", "optional"]
    assert (answer.status, answer.module.slug) == ("active", "compliance-1")
    assert [(other.status, other.module.slug) for other in answer.others] == [
        ("active", "basics-1"),
        ("active", "tools-1"),
        ("active", "optional-1"),
    ]
    assert next_module_for_learner(learner=ada).module.slug == "compliance-1"
    assert next_module_for_learner(learner=ada).others == ()  # asked for the first only


def test_the_published_versions_priority_counts_for_learners_already_enrolled():
    bo = newcomer("bo", "support_specialist")
    _enrol_one_by_one(bo, "basics", "tools")
    assert next_module_for_learner(learner=bo).module.slug == "basics-1"

    publish("tools", "support_specialist", extra="priority: 3\n")  # v2; bo stays on v1

    assert Enrollment.objects.get(learner=bo, playbook__slug="tools").version.number == 1
    assert next_module_for_learner(learner=bo).module.slug == "tools-1"


def test_completed_and_ended_enrolments_are_not_among_the_others():
    cy = newcomer("cy", "support_specialist")
    _enrol_one_by_one(cy, "basics", "tools", "compliance")
    Enrollment.objects.filter(learner=cy, playbook__slug="compliance").update(status=EnrollmentStatus.COMPLETED)
    Enrollment.objects.filter(learner=cy, playbook__slug="tools").update(
        status=EnrollmentStatus.ENDED, ended_at=T0, ended_reason="left_audience"
    )

    answer = next_module_for_learner(learner=cy, others=True)

    assert (_served(answer), answer.module.slug) == (["basics"], "basics-1")


def test_a_learner_with_only_completed_playbooks_is_done_with_no_others():
    di = newcomer("di", "support_specialist")
    _enrol_one_by_one(di, "basics", "tools")
    Enrollment.objects.filter(learner=di).update(status=EnrollmentStatus.COMPLETED)

    answer = next_module_for_learner(learner=di, others=True)

    assert (answer.status, answer.module, answer.others) == ("completed", None, ())


@pytest.mark.parametrize("playbooks", [1, 4])
def test_next_module_with_the_others_is_still_one_query(playbooks, django_assert_num_queries):
    ed = newcomer("ed", "support_specialist")
    _enrol_one_by_one(ed, *["basics", "tools", "compliance", "optional"][:playbooks])

    with django_assert_num_queries(1):
        answer = next_module_for_learner(learner=ed, others=True)
    with django_assert_num_queries(1):
        next_module_for_learner(learner=ed)

    assert len(answer.others) == playbooks - 1


def test_priority_and_on_audience_exit_round_trip_exactly_through_the_file():
    document = yaml.safe_load(playbook_text("p", "r", extra="priority: -7\non_audience_exit: keep\n"))

    spec = spec_from_document(document)

    assert (spec.priority, spec.on_audience_exit) == (-7, "keep")
    assert document_from_spec(spec) == document
    assert list(yaml.safe_load(dump_yaml(spec))) == ["slug", "name", "priority", "audience", "on_audience_exit"] + [
        "modules",
        "steps",
    ]


def test_a_file_without_them_gets_the_defaults_and_exports_without_them():
    document = yaml.safe_load(playbook_text("p", "r"))

    spec = spec_from_document(document)

    assert (spec.priority, spec.on_audience_exit) == (0, "end")
    assert document_from_spec(spec) == document


def test_the_defaults_written_out_are_normalised_away_like_other_empty_keys():
    spec = spec_from_document(yaml.safe_load(playbook_text("p", "r", extra="priority: 0\non_audience_exit: end\n")))

    assert "priority" not in document_from_spec(spec) and "on_audience_exit" not in document_from_spec(spec)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ("priority: high\n", "priority: expected a whole number (the highest is served first), got text"),
        ("priority: true\n", "priority: expected a whole number (the highest is served first), got true/false"),
        ("priority: 1001\n", "priority: a priority is between -1000 and 1000; got 1001"),
        ("on_audience_exit: leave\n", "on_audience_exit: 'leave' is not a choice; use 'end'"),
        ("on_audience_exit: [keep]\n", "on_audience_exit: expected text, got a list"),
    ],
)
def test_a_wrong_value_is_refused_naming_its_key(extra, error):
    with pytest.raises(PlaybookInvalid) as caught:
        playbook_import(text=playbook_text("p", "r", extra=extra))

    assert str(caught.value.errors[0]).startswith(error)
    assert not Playbook.objects.exists()


def test_import_stores_them_on_the_version_and_export_gives_them_back():
    text = playbook_text("p", "r", extra="priority: 4\non_audience_exit: keep\n")

    version = playbook_import(text=text, publish=True).version

    assert (version.priority, version.on_audience_exit) == (4, "keep")
    assert load_yaml(dump_yaml(version_spec(version=version))) == yaml.safe_load(text)
    assert playbook_import(text=text, publish=True).changed is False
    changed = playbook_import(text=text.replace("priority: 4", "priority: 5"), publish=True)
    assert (changed.changed, changed.version.number, changed.version.priority) == (True, 2, 5)


def test_an_admin_sets_them_on_a_draft_and_the_export_carries_them(admin_client):
    playbook_import(text=playbook_text("p", "r"), publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    form = _draft_form(draft, _trigger_rows(draft)) | {"priority": "12", "on_audience_exit": "keep"}

    response = admin_client.post(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), form)

    assert response.status_code == 302
    draft = PlaybookVersion.objects.get(pk=draft.pk)
    assert (draft.priority, draft.on_audience_exit) == (12, "keep")
    exported = admin_client.get(reverse("admin:playbooks_playbookversion_export", args=[draft.pk])).content.decode()
    assert "priority: 12\n" in exported and "on_audience_exit: keep\n" in exported


def test_the_admin_refuses_a_priority_out_of_range(admin_client):
    playbook_import(text=playbook_text("p", "r"), publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    form = _draft_form(draft, _trigger_rows(draft)) | {"priority": "5000"}

    response = admin_client.post(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), form)

    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 1000." in response.content.decode()
    assert PlaybookVersion.objects.get(pk=draft.pk).priority == 0
