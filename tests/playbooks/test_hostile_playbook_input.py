"""Hostile playbook files, saved journeys and module URLs: refused quickly with a message that says where and what to
change (a form error in the admin, PlaybookInvalid from the services, a CommandError from the command), never a 500
and never work in proportion to what an attacker can make the parser expand."""

import html
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import ContentModule, Playbook, PlaybookVersion
from playbooks.services import draft_create, module_create, playbook_import, version_tests_set
from tests.playbooks.engine.replay import SCENARIOS
from tests.playbooks.engine.test_safe_yaml import alias_bomb
from tests.playbooks.test_admin_playbooks import FAST_SKIPPER_TEST, _draft_form, _trigger_rows
from tests.utils import CpuSeconds

pytestmark = pytest.mark.django_db

PLAYBOOK = (SCENARIOS / "support-specialist" / "playbook.yaml").read_text()
IMPORT = reverse("admin:playbooks_playbook_import")
TEN_MB_PLAYBOOK = "slug: huge\nname: Huge\ndescription: " + "x" * 10_000_000 + "\n"
SIZE_MESSAGE = f"a playbook file is at most 1 MB (1,000,000 bytes); this one is {len(TEN_MB_PLAYBOOK):,} bytes"
ALIASES = "YAML aliases (&anchor / *alias) are not allowed"
ALIASES_HTML = html.escape(ALIASES)


def _with_bomb_in_tests(playbook: str) -> str:
    """The playbook with a 2.8 KB alias bomb as the events of a saved journey."""
    bomb = "\n".join(f"  {line}" for line in alias_bomb().splitlines())
    return playbook + "bombs:\n" + bomb + "\ntests:\n  - {name: bomb, journey: {events: *l8}}\n"


def _import_errors(text: str) -> list[str]:
    with pytest.raises(PlaybookInvalid) as caught:
        playbook_import(text=text)
    return [str(error) for error in caught.value.errors]


def _draft() -> PlaybookVersion:
    playbook_import(text=PLAYBOOK, publish=True)
    return draft_create(playbook=Playbook.objects.get())


def _post_draft(admin_client, draft: PlaybookVersion, **changes):
    form = _draft_form(draft, changes.pop("triggers", None) or _trigger_rows(draft)) | changes
    return admin_client.post(reverse("admin:playbooks_playbookversion_change", args=[draft.pk]), form)


# --- playbook files: import service, command, admin upload --------------------------------------------------------


def test_an_alias_bomb_in_a_playbook_file_is_refused_quickly_and_nothing_is_written():
    with CpuSeconds() as spent:
        errors = _import_errors(_with_bomb_in_tests(PLAYBOOK))

    first_anchor = PLAYBOOK.count("\n") + 2
    assert errors == [f"line {first_anchor}, column 7: {ALIASES}; write the value out in full"]
    assert spent.seconds < 0.5
    assert not Playbook.objects.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PLAYBOOK.replace("name: Technical", "slug: again\nname: Technical"), "line 2, column 1: duplicate key 'slug'"),
        ("slug: deep\nname: Deep\nsteps: " + "[" * 100_000, "line 3, column 57: nested more than 50 levels deep"),
        (PLAYBOOK.replace("Welcome to Support", '"Welcome\\0"'), "the control character U+0000 (NUL) is not allowed"),
        (PLAYBOOK.replace("Welcome to Support", "Welcome\x00"), "the control character U+0000 (NUL) is not allowed"),
    ],
    ids=["duplicate-key", "deep-nesting", "escaped-nul", "raw-nul"],
)
def test_hostile_yaml_in_a_playbook_file_is_refused_at_import(text, expected):
    errors = _import_errors(text)

    assert len(errors) == 1 and expected in errors[0]
    assert not Playbook.objects.exists()


def test_the_import_command_refuses_a_10_mb_file_quickly(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(TEN_MB_PLAYBOOK)

    with CpuSeconds() as spent, pytest.raises(CommandError) as caught:
        call_command("import_playbook", str(path))

    assert str(caught.value).startswith(f"{path}: {SIZE_MESSAGE}")  # refused by its size, before it is read
    assert spent.seconds < 2
    assert not Playbook.objects.exists()


def test_the_import_command_refuses_duplicate_keys_naming_the_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(PLAYBOOK.replace("audience: {roles: [support_specialist]}", "audience: {roles: [a], roles: [b]}"))

    with pytest.raises(CommandError) as caught:
        call_command("import_playbook", str(path))

    assert "line 4, column 24: duplicate key 'roles' (first at line 4): give each key once" in str(caught.value)


def test_an_admin_upload_over_the_size_limit_is_a_form_error_before_it_is_read(admin_client):
    upload = SimpleUploadedFile("huge.yaml", TEN_MB_PLAYBOOK.encode())

    with CpuSeconds() as spent:
        response = admin_client.post(IMPORT, {"file": upload})

    assert response.status_code == 200
    assert "A" + SIZE_MESSAGE[1:] in str(response.context["form"].errors["file"])
    assert spent.seconds < 5  # mostly the test client encoding 10 MB
    assert not Playbook.objects.exists()


def test_an_admin_upload_with_an_alias_bomb_lists_the_problem(admin_client):
    upload = SimpleUploadedFile("bomb.yaml", _with_bomb_in_tests(PLAYBOOK).encode())

    response = admin_client.post(IMPORT, {"file": upload})

    assert response.status_code == 200 and ALIASES_HTML in response.text
    assert not Playbook.objects.exists()


# --- module URLs ----------------------------------------------------------------------------------------------------

JAVASCRIPT_MODULE = PLAYBOOK.replace(
    "{slug: welcome, title: Welcome to Support,",
    "{slug: welcome, url: 'javascript:alert(1)', title: Welcome to Support,",
)


def test_a_javascript_module_url_is_refused_at_import_with_its_path():
    errors = _import_errors(JAVASCRIPT_MODULE)

    assert errors == [
        "modules[0].url: 'javascript:alert(1)' is not a web address; use an http:// or https:// URL, "
        "e.g. https://example.com/guide"
    ]
    assert not ContentModule.objects.exists()


def test_a_javascript_module_url_in_an_admin_upload_is_listed_not_a_500(admin_client):
    response = admin_client.post(IMPORT, {"file": SimpleUploadedFile("p.yaml", JAVASCRIPT_MODULE.encode())})

    assert response.status_code == 200
    assert "modules[0].url" in response.text and "is not a web address" in response.text
    assert not ContentModule.objects.exists()


def test_a_web_module_url_is_imported():
    playbook_import(text=JAVASCRIPT_MODULE.replace("javascript:alert(1)", "https://example.com/welcome"))

    assert ContentModule.objects.get(slug="welcome").url == "https://example.com/welcome"


def test_what_the_library_refuses_at_import_is_reported_at_the_modules_path():
    errors = _import_errors(PLAYBOOK.replace("title: Welcome to Support", f"title: {'W' * 201}"))

    assert errors == ["modules[0].title: Ensure this value has at most 200 characters (it has 201)."]
    assert not ContentModule.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(1)", "Enter a valid URL."),
        ("ftp://example.com/guide", "&#x27;ftp://example.com/guide&#x27; is not a web address; use an http://"),
    ],
)
def test_the_content_module_admin_refuses_other_than_web_urls(admin_client, url, message):
    form = {"slug": "guide", "title": "Guide", "kind": "link", "minutes": 5, "tags": "[]", "is_active": "on"}

    response = admin_client.post(reverse("admin:playbooks_contentmodule_add"), form | {"url": url, "body": ""})

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors["url"])
    assert not ContentModule.objects.exists()


def test_the_module_service_refuses_a_javascript_url():
    with pytest.raises(ValidationError) as caught:
        module_create(slug="guide", title="Guide", url="javascript:alert(1)")

    assert "is not a web address" in str(caught.value.message_dict["url"])


# --- saved journeys edited as YAML, and the trigger's JSON ------------------------------------------------------------


def test_an_alias_bomb_in_the_saved_journeys_field_is_refused_quickly(admin_client):
    draft = _draft()
    bomb = alias_bomb() + "tests:\n  - {name: bomb, journey: {events: *l8}}\n"

    with CpuSeconds() as spent:
        response = _post_draft(admin_client, draft, tests=bomb)

    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors["tests"])
    assert f"line 1, column 5: {ALIASES_HTML}" in errors
    assert spent.seconds < 2
    draft.refresh_from_db()
    assert draft.tests == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FAST_SKIPPER_TEST.replace("until: 1h", "until: 1h\n    until: 2h"), "duplicate key &#x27;until&#x27;"),
        ("- " * 100 + "x", "nested more than 50 levels deep"),
        (FAST_SKIPPER_TEST.replace("sim-1", '"sim\\0"'), "the control character U+0000 (NUL) is not allowed"),
        ("- " + "x" * 1_000_001, "the saved journeys is at most 1 MB (1,000,000 bytes)"),
    ],
    ids=["duplicate-key", "deep-nesting", "nul", "size"],
)
def test_hostile_yaml_in_the_saved_journeys_field_is_a_form_error(admin_client, text, expected):
    draft = _draft()

    response = _post_draft(admin_client, draft, tests=text.replace("MODULE", "crm-basics"))

    assert response.status_code == 200
    assert expected in str(response.context["adminform"].form.errors["tests"])


def test_saved_journeys_larger_than_the_playbook_file_allows_are_refused_by_the_service():
    draft = _draft()
    journey = {"events": [{"at": f"{n}s", "type": "module_started", "module": "welcome"} for n in range(20_000)]}

    with pytest.raises(PlaybookInvalid) as caught:
        version_tests_set(version=draft, tests=[{"name": "long", "journey": journey}])

    (error,) = caught.value.errors
    assert error.path == "tests" and "at most 1,000,000 (they are part of the playbook file)" in error.message
    draft.refresh_from_db()
    assert draft.tests == []


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "Nested too deeply: at most 8 levels."),
        ('[{"remind": {"channel": "email", "template": ' + "[" * 20 + "]" * 20 + "}}]", "nested more than 8 levels"),
        ('[{"flag": "x\\u0000"}]', "[0].flag: contains a NUL character"),
        ('[{"remind": {"channel": "email", "delay": NaN}}]', "[0].remind.delay: nan is not a finite number"),
    ],
    ids=["past-the-recursion-limit", "deep", "nul", "nan"],
)
def test_a_triggers_actions_json_that_cannot_be_stored_is_a_form_error(admin_client, actions, expected):
    draft = _draft()

    response = _post_draft(admin_client, draft, triggers=_trigger_rows(draft, actions=actions))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][2].formset.forms[0].errors["actions"]
    assert expected in str(errors)
    assert json.dumps(draft.triggers.first().actions) == '[{"insert_module": "remedial-demo"}]'
