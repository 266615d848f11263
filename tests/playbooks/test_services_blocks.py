"""Reusable blocks through the database: saved as immutable versions, pinned by playbooks, expanded for the engine,
written back as includes on export, and refused with the path when an include is wrong."""

from pathlib import Path

import pytest
import yaml
from django.db.models import ProtectedError
from django.urls import reverse

from playbooks import selectors
from playbooks.engine.document import dump_yaml
from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import BlockVersion, VersionInclude, VersionStatus
from playbooks.services import draft_create, playbook_import
from playbooks.services.blocks import block_version_save

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
BLOCK = (EXAMPLES / "blocks" / "security-basics.yaml").read_text()
PLAYBOOK = (EXAMPLES / "reusable-blocks.yaml").read_text()
BLOCK_V2 = BLOCK.replace("phishing_quiz_fails >= 2", "phishing_quiz_fails >= 3")


def _problems(raised: pytest.ExceptionInfo) -> dict[str, str]:
    return {error.path: error.message for error in raised.value.errors}


def test_saving_a_block_makes_its_next_version_and_saving_the_same_file_again_makes_none():
    first = block_version_save(text=BLOCK)
    again = block_version_save(text=BLOCK)
    second = block_version_save(text=BLOCK_V2)

    assert (first.version.number, first.created) == (1, True)
    assert (again.version.pk, again.created) == (first.version.pk, False)
    assert (second.version.number, second.created) == (2, True)
    assert BlockVersion.objects.get(pk=first.version.pk).text == BLOCK  # version 1 is as it was saved


def test_a_playbook_including_a_block_runs_its_steps_and_exports_the_include_not_the_content():
    block_version_save(text=BLOCK)

    version = playbook_import(text=PLAYBOOK, publish=True).version

    spec = selectors.version_spec(version=version)
    assert [step.key for step in spec.steps] == ["eng-welcome", "security-101", "phishing-quiz", "dev-environment"]
    assert [trigger.name for trigger in spec.triggers] == ["phishing help"]
    exported = yaml.safe_load(dump_yaml(spec))
    assert exported == yaml.safe_load(PLAYBOOK)
    assert "phishing_quiz_fails" not in dump_yaml(spec)


def test_a_new_block_version_reaches_a_playbook_only_through_a_new_playbook_version_that_pins_it():
    block_version_save(text=BLOCK)
    published = playbook_import(text=PLAYBOOK, publish=True).version
    block_version_save(text=BLOCK_V2)

    assert selectors.version_spec(version=published).triggers[0].when == "phishing_quiz_fails >= 2"
    assert selectors.version_spec(version=draft_create(playbook=published.playbook)).triggers[0].when == (
        "phishing_quiz_fails >= 2"  # a new draft copies the pin, not the newest block
    )
    repinned = playbook_import(text=PLAYBOOK.replace("version: 1}", "version: 2}")).version
    assert selectors.version_spec(version=repinned).triggers[0].when == "phishing_quiz_fails >= 3"
    assert repinned.number == 2 and repinned.status == VersionStatus.DRAFT
    with pytest.raises(PlaybookInvalid) as raised:  # the saved journeys hold the playbook to what it promised
        playbook_import(text=PLAYBOOK.replace("version: 1}", "version: 2}"), publish=True)
    assert "'phishing help' did not fire" in str(raised.value)


def test_a_block_version_in_use_cannot_be_deleted():
    block = block_version_save(text=BLOCK).version
    playbook_import(text=PLAYBOOK, publish=True)

    with pytest.raises(ProtectedError):
        block.delete()
    assert VersionInclude.objects.get().block_version == block


def test_a_block_included_at_a_version_that_does_not_exist_is_refused_with_the_versions_there_are():
    block_version_save(text=BLOCK)

    with pytest.raises(PlaybookInvalid) as raised:
        playbook_import(text=PLAYBOOK.replace("version: 1}", "version: 4}"))

    assert _problems(raised) == {"include[0].version": "block 'security-basics' has no version 4; its versions: 1"}


def test_an_unknown_block_suggests_the_one_meant():
    block_version_save(text=BLOCK)

    with pytest.raises(PlaybookInvalid) as raised:
        playbook_import(text=PLAYBOOK.replace("{block: security-basics", "{block: security-basic"))

    assert _problems(raised)["include[0].block"] == "no block 'security-basic'; did you mean 'security-basics'?"


def test_a_block_that_includes_itself_is_refused_as_a_cycle():
    looped = BLOCK.replace(
        "steps:\n", "include: [{block: security-basics, version: 1}]\nsteps:\n  - block: security-basics\n"
    )

    with pytest.raises(PlaybookInvalid) as raised:
        block_version_save(text=looped)

    assert _problems(raised)["include[0].block"] == (
        "a cycle of blocks including each other: 'security-basics' includes itself"
    )
    assert not BlockVersion.objects.exists()


def test_a_typo_in_a_blocks_condition_is_refused_with_the_path_and_a_caret():
    with pytest.raises(PlaybookInvalid) as raised:
        block_version_save(text=BLOCK.replace("phishing_quiz_fails >= 2", "phishing_quiz_fail >= 2"))

    error = raised.value.errors[0]
    assert error.path == "triggers[0].when"
    assert "phishing_quiz_fail" in error.message and "^" in error.pointer
    assert not BlockVersion.objects.exists()


def test_the_admin_saves_a_block_and_shows_where_each_version_is_used(admin_client):
    response = admin_client.post(reverse("admin:playbooks_block_add"), {"text": BLOCK})
    assert response.status_code == 302
    version = playbook_import(text=PLAYBOOK).version

    page = admin_client.get(response["Location"]).content.decode()

    assert "v1" in page and f"{version.playbook.slug} v{version.number} (Draft)" in page
    assert reverse("admin:playbooks_playbookversion_change", args=[version.pk]) in page
    listing = admin_client.get(reverse("admin:playbooks_block_changelist")).content.decode()
    assert "security-basics" in listing
    version_page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[version.pk]))
    assert reverse("admin:playbooks_block_change", args=[version.includes.get().block_version.block_id]) in (
        version_page.content.decode()
    )


def test_the_admin_form_lists_a_blocks_problems_and_saves_nothing(admin_client):
    response = admin_client.post(reverse("admin:playbooks_block_add"), {"text": BLOCK.replace("count", "cuont")})

    assert response.status_code == 200
    assert "signals.phishing_quiz_fails.aggregate" in response.content.decode()
    assert not BlockVersion.objects.exists()


def test_the_version_page_labels_its_problems_and_its_blocks_each_by_their_own_name(admin_client):
    block_version_save(text=BLOCK)
    version = playbook_import(text=PLAYBOOK).version

    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[version.pk])).content.decode()

    assert page.count("Problems to fix before publishing") == 1
    assert "Included:" in page and "security-basics v1" in page


def test_an_admin_trigger_may_use_a_signal_an_included_block_brings(admin_client):
    from tests.playbooks.test_admin_playbooks import _draft_form

    block_version_save(text=BLOCK)
    draft = playbook_import(text=PLAYBOOK).version
    trigger = {
        "version": draft.pk,
        "position": 0,
        "name": "quiz trouble",
        "when": "phishing_quiz_fails >= 3",
        "actions": '[{"flag": "quiz_trouble"}]',
    }

    response = admin_client.post(
        reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), _draft_form(draft, [trigger])
    )

    assert response.status_code == 302, response.context["inline_admin_formsets"][2].formset.errors
    assert [t.when for t in draft.triggers.all()] == ["phishing_quiz_fails >= 3"]
