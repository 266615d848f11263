"""Micro-surveys: configured per module, offered on the learner page once the module is completed, answered there or
through the events API (a bad answer refused naming the field), and summed up per module on the dashboard."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from insights.models import Survey
from insights.selectors import FIGURES, LOW_SURVEY_SCORE, Filters, surveys
from playbooks.models import ContentModule, ProgressStatus
from signals_app.event_input import MAX_SURVEY_COMMENT
from signals_app.models import Event
from tests.factories import UserFactory, api_key
from tests.insights.conftest import T0

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def _answer(learner, module: str, score, comment: str = "", *, at=None, n: int = 0) -> dict:
    properties = {"score": score} | ({"comment": comment} if comment else {})
    moment = at or timezone.now() - timedelta(minutes=5)
    return {
        "id": f"survey-{learner.external_id}-{module}-{n}",
        "learner": learner.external_id,
        "type": "survey_answered",
        "module": module,
        "occurred_at": moment.isoformat(),
        "properties": properties,
    }


@pytest.fixture
def writer(client):
    key, _row = api_key("events:write")
    client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client


def _post(client, body):
    return client.post(URL, body, content_type="application/json")


def test_an_answer_is_stored_as_a_survey_answered_event(writer, world):
    learner = world.learner("agent")

    response = _post(writer, _answer(learner, "tools", 4, "Useful for my first week."))

    assert response.status_code == 202
    event = Event.objects.get()
    assert (event.type, event.module, event.properties) == (
        "survey_answered",
        "tools",
        {"score": 4, "comment": "Useful for my first week."},
    )


@pytest.mark.parametrize(
    ("properties", "field", "code"),
    [
        ({"score": 0}, "properties.score", "invalid"),
        ({"score": 6}, "properties.score", "invalid"),
        ({"score": 3.5}, "properties.score", "invalid"),
        ({"score": "4"}, "properties.score", "invalid"),
        ({"score": True}, "properties.score", "invalid"),
        ({"comment": "no score"}, "properties.score", "required"),
        ({"score": 3, "comment": 7}, "properties.comment", "invalid"),
        ({"score": 3, "comment": "x" * (MAX_SURVEY_COMMENT + 1)}, "properties.comment", "too_long"),
        ({"score": 3, "stars": 5}, "properties", "unknown_field"),
    ],
)
def test_a_bad_answer_is_refused_naming_the_field(writer, world, properties, field, code):
    learner = world.learner("agent")
    event = _answer(learner, "tools", 3) | {"properties": properties}

    response = _post(writer, event)

    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, code)]
    assert field in response.json()["errors"][0]["message"]
    assert not Event.objects.exists()


def test_an_answer_must_name_its_module(writer, world):
    event = _answer(world.learner("agent"), "tools", 3) | {"module": ""}

    response = _post(writer, event)

    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("module", "required")]


def _answered(world, learner, module, score, comment="", *, at, version=None, n=0):
    enrollment = learner.enrollments.first() or world.enrol(learner, at=at, version=version)
    Event.objects.create(
        source="key:1",
        client_id=f"a-{learner.pk}-{module}-{n}",
        learner=learner,
        type="survey_answered",
        module=module,
        occurred_at=at,
        received_at=at,
        properties={"score": score} | ({"comment": comment} if comment else {}),
    )
    return enrollment


def test_the_figure_gives_average_distribution_count_and_latest_comments(world):
    agents = [world.learner("agent") for _ in range(4)]
    lead = world.learner("lead")
    given = [  # (learner, module, score, comment, minutes after T0)
        (agents[0], "tools", 2, "Too long.", 0),
        (agents[1], "tools", 1, "Not for my team.", 10),
        (agents[2], "tools", 2, "", 20),
        (agents[3], "tools", 5, "Exactly what I needed.", 30),
        (lead, "tools", 3, "", 40),
        (agents[0], "welcome", 5, "", 50),
        (agents[1], "welcome", 4, "Friendly.", 60),
    ]
    for learner, module, score, comment, minutes in given:
        _answered(world, learner, module, score, comment, at=T0 + timedelta(minutes=minutes))
    # A learner who answers again replaces their earlier answer; an answer about a module of no version is not ours.
    _answered(world, agents[1], "tools", 4, "Changed my mind.", at=T0 + timedelta(minutes=70), n=1)
    _answered(world, agents[2], "elsewhere", 1, at=T0)
    tools = [2, 4, 2, 5, 3]
    welcome = [5, 4]

    figure = surveys(Filters(playbook=world.playbook))

    rows = {row[0].value: [cell.value for cell in row] for row in figure.rows}
    assert list(rows) == ["tools", "welcome"]
    assert rows["tools"][2:4] == [len(tools), round(sum(tools) / len(tools), 2)]
    assert rows["tools"][4:9] == [tools.count(score) for score in range(1, 6)]
    assert rows["tools"][9] == ["Changed my mind.", "Exactly what I needed.", "Too long."]
    assert rows["welcome"][2:4] == [len(welcome), sum(welcome) / len(welcome)]
    assert figure.callouts == []  # 3.2 is not under 3

    by_role = {row[0].value: row for row in surveys(Filters(playbook=world.playbook, role="agent")).rows}
    agents_tools = [2, 4, 2, 5]
    assert by_role["tools"][3].value == round(sum(agents_tools) / 4, 2)

    early = surveys(Filters(playbook=world.playbook, start=date(2026, 3, 2), end=date(2026, 3, 2)))
    assert {row[0].value: row[2].value for row in early.rows} == {"tools": 5, "welcome": 2}


def test_a_low_average_is_called_out(world):
    for score in (1, 2, 3):
        _answered(world, world.learner("agent"), "tools", score, at=T0)

    figure = surveys(Filters(playbook=world.playbook))

    assert LOW_SURVEY_SCORE > 2.0
    assert figure.callouts == ["tools: rated 2.0 of 5 on average by 3 learners."]


def test_the_version_filter_keeps_the_answers_of_its_learners(world):
    _answered(world, world.learner("agent"), "tools", 5, at=T0, version=world.v1)
    _answered(world, world.learner("agent"), "tools", 1, at=T0, version=world.v2)

    figure = surveys(Filters(playbook=world.playbook, version=world.v1))

    assert [(row[0].value, row[3].value) for row in figure.rows] == [("tools", 5.0)]


def test_the_analytics_api_and_the_csv_carry_the_figure(client, world, analyst):
    _answered(world, world.learner("agent"), "tools", 4, "Good | short.", at=T0)
    key, _ = api_key("analytics:read")

    body = client.get(
        f"/api/v1/analytics/playbooks/{world.playbook.slug}/surveys", HTTP_AUTHORIZATION=f"Api-Key {key}"
    ).json()
    client.force_login(analyst)
    csv = client.get(reverse("admin:insights_csv", args=[world.playbook.pk, "surveys"])).content.decode()

    assert "surveys" in FIGURES
    assert body["rows"] == [["tools", "", 1, 4.0, 0, 0, 0, 1, 0, ["Good | short."]]]
    assert csv.splitlines()[1] == "tools,,1,4.0,0,0,0,1,0,Good | short."


@pytest.fixture
def page(client, world):
    learner = world.learner("agent")
    learner.user = UserFactory()
    learner.save()
    enrollment = world.enrol(learner, at=timezone.now())
    world.progress(enrollment, "tools", ProgressStatus.COMPLETED)
    world.progress(enrollment, "welcome", ProgressStatus.COMPLETED)
    Survey.objects.create(module=ContentModule.objects.get(slug="tools"))
    Survey.objects.create(module=ContentModule.objects.get(slug="deep-dive"))  # not completed: not asked yet
    client.force_login(learner.user)
    return learner


def test_the_learner_page_asks_after_a_completed_module_and_stops_once_answered(client, page):
    html = client.get("/learn/").content.decode()

    assert html.count('action="/learn/survey"') == 1
    assert "You completed Tools" in html and "Was this relevant to your role?" in html
    assert "<script" not in html and "style=" not in html

    response = client.post(
        reverse("learner-survey-answer"), {"module": "tools", "score": "2", "comment": " Too basic. ", "event_id": "s1"}
    )

    assert response.status_code == 302
    event = Event.objects.get(learner=page)
    assert (event.type, event.module, event.properties, event.source) == (
        "survey_answered",
        "tools",
        {"score": 2, "comment": "Too basic."},
        f"web:{page.pk}",
    )
    html = client.get("/learn/").content.decode()
    assert 'action="/learn/survey"' not in html and "Thank you for your answer." in html


@pytest.mark.parametrize(("score", "words"), [("", "properties.score is required"), ("9", "9 is not a whole")])
def test_a_bad_answer_on_the_page_says_what_is_wrong(client, page, score, words):
    client.post(reverse("learner-survey-answer"), {"module": "tools", "score": score, "event_id": "s2"})

    assert words in client.get("/learn/").content.decode()
    assert not Event.objects.filter(learner=page).exists()
