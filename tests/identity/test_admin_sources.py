"""The identity sources' admin: role rules checked as typed (with the caret), the schedule kept with the source, the
upload page (dry run, then apply), the role preview, read-only runs and links in a bounded number of queries."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from identity.models import IdentitySource, Learner, RoleRule, SyncRun
from identity.services.sync import source_sync
from tests.factories import RoleFactory
from tests.identity.sync_fixtures import *  # noqa: F403  (the fixtures)
from tests.identity.sync_fixtures import HEADER

pytestmark = pytest.mark.django_db

ADD = reverse("admin:identity_identitysource_add")


def _form(**overrides) -> dict:
    form = {
        "name": "hr-file",
        "kind": "file",
        "enabled": "on",
        "settings": '{"path": "people.csv", "groups_column": "groups"}',
        "secret_env": "",
        "external_id_from": "",
        "grace_period": "7d",
        "deactivation_brake": "10",
        "schedule": "30 3 * * 1-5",
        "attribute_mappings-TOTAL_FORMS": "1",
        "attribute_mappings-INITIAL_FORMS": "0",
        "attribute_mappings-0-position": "0",
        "attribute_mappings-0-source_attribute": "department",
        "attribute_mappings-0-target": "attributes.department",
        "attribute_mappings-0-transform": "",
        "role_rules-TOTAL_FORMS": "1",
        "role_rules-INITIAL_FORMS": "0",
        "role_rules-0-position": "0",
        "role_rules-0-when": '"support" in groups',
        "role_rules-0-role": str(RoleFactory(slug="support").pk),
    }
    return {**form, **overrides}


def test_a_role_rule_with_a_typo_is_refused_at_save_with_a_caret(admin_client, files_dir):
    response = admin_client.post(ADD, _form(**{"role_rules-0-when": '"support" in grups'}))

    assert response.status_code == 200
    page = response.content.decode()
    assert "unknown name &#x27;grups&#x27; at column 14; did you mean &#x27;groups&#x27;?" in page
    assert "<pre>&quot;support&quot; in grups\n             ^</pre>" in page
    assert not IdentitySource.objects.exists()


def test_saving_a_source_keeps_its_nightly_schedule(admin_client, files_dir):
    response = admin_client.post(ADD, _form())

    assert response.status_code == 302, response.content.decode()[:2000]
    source = IdentitySource.objects.get()
    task = PeriodicTask.objects.get(name=f"identity: sync source {source.pk}")
    assert (task.task, task.kwargs, str(task.crontab.hour), task.crontab.day_of_week) == (
        "identity.sync_source",
        f'{{"source_id": {source.pk}}}',
        "3",
        "1-5",
    )
    assert source.role_rules.get().when == '"support" in groups'

    change = reverse("admin:identity_identitysource_change", args=[source.pk])
    form = _form(enabled="", **{"role_rules-TOTAL_FORMS": "0", "attribute_mappings-TOTAL_FORMS": "0"})
    del form["enabled"]
    admin_client.post(change, form)

    assert not PeriodicTask.objects.filter(name__startswith="identity: sync source").exists()


def test_a_bad_schedule_or_grace_period_is_refused_on_its_field(admin_client, files_dir):
    response = admin_client.post(ADD, _form(schedule="every night", grace_period="a week"))

    errors = response.context["adminform"].form.errors
    assert "is not a cron line" in errors["schedule"][0]
    assert "is not a duration" in errors["grace_period"][0]


def test_uploading_a_file_shows_a_dry_run_then_applies_it(admin_client, hr_file):
    upload = reverse("admin:identity_identitysource_upload", args=[hr_file.source.pk])
    content = f"{HEADER}\n1,E1,ada@example.com,Ada,support,2,support,yes\n".encode()

    response = admin_client.post(
        upload, {"file": SimpleUploadedFile("people.csv", content, "text/csv"), "dry_run": "Dry run"}
    )

    assert response.status_code == 200
    assert response.context["run"].dry_run and response.context["run"].counts["created"] == 1
    assert b"Apply this file" in response.content and not Learner.objects.exists()

    stored = response.context["uploaded"]
    response = admin_client.post(upload, {"uploaded": stored, "apply": "Apply this file"})

    assert not response.context["run"].dry_run
    assert Learner.objects.get().attributes == {"department": "support", "level": 2}


def test_the_role_preview_shows_who_would_get_which_role_before_saving(admin_client, hr_file):
    hr_file.write("1,E1,ada@example.com,Ada,support,2,support,yes", "2,E2,bob@example.com,Bob,sales,3,,yes")
    source_sync(source=hr_file.source)
    preview = reverse("admin:identity_identitysource_preview", args=[hr_file.source.pk])

    response = admin_client.post(preview, {"rules": 'support: attributes.department == "sales"'})

    rows = {row["learner"]: (row["now"], row["would"]) for row in response.context["rows"]}
    assert rows == {"1": (["support"], []), "2": (["team_lead"], ["support"])}
    assert RoleRule.objects.filter(source=hr_file.source).count() == 2  # nothing saved

    response = admin_client.post(preview, {"rules": "support: attributes.department = 1"})
    assert response.context["errors"][0]["line"] == 1 and response.context["errors"][0]["pointer"]


def test_runs_links_and_sources_lists_take_a_bounded_number_of_queries(
    admin_client, hr_file, django_assert_max_num_queries
):
    hr_file.write(*(f"{n},E{n},p{n}@example.com,P{n},support,1,support,yes" for n in range(30)))
    for _ in range(3):
        source_sync(source=hr_file.source)
    for name in ("identitysource", "syncrun", "sourcelink"):
        with django_assert_max_num_queries(12):
            response = admin_client.get(reverse(f"admin:identity_{name}_changelist"))
        assert response.status_code == 200
    run = SyncRun.objects.first()
    assert admin_client.get(reverse("admin:identity_syncrun_change", args=[run.pk])).status_code == 200


def test_a_learners_page_shows_their_source_links(admin_client, hr_file):
    hr_file.write("1,E1,ada@example.com,Ada,support,2,support,yes")
    source_sync(source=hr_file.source)
    learner = Learner.objects.get()

    response = admin_client.get(reverse("admin:identity_learner_change", args=[learner.pk]))

    assert b"<td>hr-file</td><td>1</td>" in response.content
