"""The learner page: server-rendered, works without JavaScript. Buttons post events through the same ingestion
service as the API, with an id minted when the page was rendered, so a double submit is a duplicate. It speaks the
learner's language (their ``locale``, when the site has it; else the browser's)."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from delivery.models import OPTIONAL_CHANNELS
from delivery.selectors import messages_in_app, preference_row
from delivery.services import message_dismiss, preferences_update
from identity.managers import reports_of
from identity.models import Learner
from identity.selectors import learner_of_caller
from identity.services import learner_token_create, learner_token_revoke
from insights.surveys import surveys_due
from playbooks.selectors import enrollments_of_learners, learner_progress, next_module_for_learner, optional_modules
from signals_app.event_input import MAX_SURVEY_COMMENT, SURVEY_ANSWERED
from signals_app.models import Event
from signals_app.selectors import open_flags_of
from signals_app.services import BatchInvalid, events_ingest

ACTIONS = {"start": "module_started", "complete": "module_completed", "skip": "module_skipped"}


def _learner(request: HttpRequest) -> Learner:
    learner = _caller(request)
    if learner is None:
        raise Http404("This login is not linked to a learner.")
    return learner


def _caller(request: HttpRequest) -> Learner | None:
    """The signed-in learner, read once per request (the language and the view both need them)."""
    if not hasattr(request, "_onboarding_learner"):
        request._onboarding_learner = learner_of_caller(request.user)
    return request._onboarding_learner


def language_of(learner: Learner | None) -> str | None:
    """The site's language closest to the learner's ``locale`` (de-CH → de), or None when the site has none."""
    if learner is None or not learner.locale:
        return None
    try:
        return translation.get_supported_language_variant(learner.locale.lower())
    except LookupError:
        return None


def in_learners_language(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run the view (its messages too) in the signed-in learner's language, else the browser's (the sign-in page).
    Only these pages: the API and the admin keep one language."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        learner = _caller(request) if request.user.is_authenticated else None
        language = language_of(learner) or translation.get_language_from_request(request)
        with translation.override(language):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
        response.headers.setdefault("Content-Language", language)
        return response

    return wrapper


@login_required
@require_GET
@in_learners_language
def learner_home(request: HttpRequest) -> HttpResponse:
    learner = _learner(request)
    answer = next_module_for_learner(learner=learner, others=True)
    for shown in (answer, *answer.others):
        if shown.module is not None:
            _remember_shown(request, shown.module.slug)
    waiting = Event.objects.filter(learner=learner, source=f"web:{learner.pk}", processed_at__isnull=True).exists()
    context = {
        "learner": learner,
        "answer": answer,
        "progress": learner_progress(learner=learner),
        "event_id": uuid.uuid4().hex,
        # The learner's other playbooks, each with an event id of its own: a form posted twice is a duplicate, two
        # forms of the same page are two events.
        "others": [{"answer": other, "event_id": uuid.uuid4().hex} for other in answer.others],
        "optional": [{"optional": each, "event_id": uuid.uuid4().hex} for each in optional_modules(answer=answer)],
        "surveys": [{"survey": survey, "event_id": uuid.uuid4().hex} for survey in surveys_due(learner=learner)],
        "survey_comment_max": MAX_SURVEY_COMMENT,
        "waiting": waiting,
        "tokens": learner.tokens.filter(revoked_at__isnull=True),
        "reminders": messages_in_app(learner=learner),
        "team_size": reports_of(manager=learner).count(),
        "team_url": reverse("learner-team"),
        "preferences": preference_row(learner=learner),
        "channels": [(channel, CHANNEL_LABELS[channel]()) for channel in OPTIONAL_CHANNELS],
    }
    return render(request, "learner/home.html", context)


CHANNEL_LABELS = {
    "email": lambda: _("e-mail"),
    "slack": lambda: _("Slack"),
    "webhook": lambda: _("other apps (webhook)"),
}


@login_required
@require_POST
@in_learners_language
def learner_preferences_save(request: HttpRequest) -> HttpResponse:
    """The learner's reminder settings, saved whole; a wrong value is named and nothing is saved."""
    learner = _learner(request)
    snooze = request.POST.get("snoozed_until", "").strip()
    try:
        preferences_update(
            learner=learner,
            quiet_hours_start=request.POST.get("quiet_hours_start", ""),
            quiet_hours_end=request.POST.get("quiet_hours_end", ""),
            snoozed_until=_day(snooze),
            opted_out=request.POST.getlist("opted_out"),
        )
    except ValidationError as exc:
        for problem in exc.messages:
            messages.error(request, _("Your reminder settings were not saved: %(problem)s") % {"problem": problem})
    else:
        messages.success(request, _("Your reminder settings are saved."))
    return HttpResponseRedirect(reverse("learner-home") + "#preferences-heading")


def _day(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            {"snoozed_until": _("'%(day)s' is not a day such as 2026-03-09.") % {"day": text}}
        ) from None


@dataclass
class _Report:
    learner: Learner
    enrollments: list = field(default_factory=list)
    flags: list = field(default_factory=list)


@login_required
@require_GET
@in_learners_language
def learner_team(request: HttpRequest) -> HttpResponse:
    """A manager's page: the people whose ``manager`` attribute names them, with where each stands in each
    playbook and their open flags. Four queries however large the team."""
    manager = _learner(request)
    reports = {learner.pk: _Report(learner) for learner in reports_of(manager=manager)}
    for enrollment in enrollments_of_learners(learner_ids=list(reports)):
        reports[enrollment.learner_id].enrollments.append(enrollment)
    for flag in open_flags_of(learner_ids=list(reports)):
        reports[flag.learner_id].flags.append(flag)
    return render(request, "learner/team.html", {"learner": manager, "reports": list(reports.values())})


@login_required
@require_POST
@in_learners_language
def learner_module_action(request: HttpRequest) -> HttpResponse:
    learner = _learner(request)
    action, module = request.POST.get("action"), request.POST.get("module", "")
    if action not in ACTIONS:
        messages.error(request, _("Unknown action."))
        return HttpResponseRedirect(reverse("learner-home"))
    event = {
        "id": request.POST.get("event_id") or uuid.uuid4().hex,
        "learner": learner.external_id,
        "type": ACTIONS[action],
        "module": module,
        "occurred_at": timezone.now().isoformat(),
    }
    shown = request.session.get(SHOWN, {}).get(module)
    if action == "complete" and shown is not None:
        # Time since the page first showed the module, measured here: the client has no say in it (a learner must
        # not steer their branches by sending their own time on task).
        event["properties"] = {"duration_seconds": min(max(0, round(time.time() - shown)), MAX_TASK_SECONDS)}
    try:
        events_ingest(body=event, source=f"web:{learner.pk}")
    except BatchInvalid as exc:
        messages.error(request, exc.errors[0]["message"])
    return HttpResponseRedirect(reverse("learner-home"))


@login_required
@require_POST
@in_learners_language
def learner_survey_answer(request: HttpRequest) -> HttpResponse:
    """A micro-survey's answer, posted as the ``survey_answered`` event the API takes: validated there, so the page
    and the API refuse the same answers with the same words."""
    learner = _learner(request)
    score = request.POST.get("score", "")
    properties: dict[str, object] = {"score": int(score) if score.isdigit() else score or None}
    if comment := request.POST.get("comment", "").strip():
        properties["comment"] = comment
    event = {
        "id": request.POST.get("event_id") or uuid.uuid4().hex,
        "learner": learner.external_id,
        "type": SURVEY_ANSWERED,
        "module": request.POST.get("module", ""),
        "occurred_at": timezone.now().isoformat(),
        "properties": properties,
    }
    try:
        events_ingest(body=event, source=f"web:{learner.pk}")
    except BatchInvalid as exc:
        messages.error(request, exc.errors[0]["message"])
    else:
        messages.success(request, _("Thank you for your answer."))
    return HttpResponseRedirect(reverse("learner-home"))


SHOWN = "modules_shown_at"  # session key: module slug -> when the page first showed it (epoch seconds)
SHOWN_KEPT = 20
MAX_TASK_SECONDS = 31_536_000


def _remember_shown(request: HttpRequest, slug: str) -> None:
    shown = request.session.get(SHOWN, {})
    if slug in shown:
        return  # the page refreshes itself while a click is evaluated: the first showing counts
    shown[slug] = time.time()
    request.session[SHOWN] = dict(sorted(shown.items(), key=lambda item: item[1])[-SHOWN_KEPT:])


@login_required
@require_POST
@in_learners_language
def learner_token_issue(request: HttpRequest) -> HttpResponse:
    learner = _learner(request)
    name = (request.POST.get("name") or "").strip()[:100] or "my token"
    issued = learner_token_create(learner=learner, name=name)
    messages.warning(
        request, _("Your new token is %(key)s. Copy it now: it will not be shown again.") % {"key": issued.key}
    )
    return HttpResponseRedirect(reverse("learner-home"))


@login_required
@require_POST
@in_learners_language
def learner_token_withdraw(request: HttpRequest, token_id: int) -> HttpResponse:
    learner = _learner(request)
    token = learner.tokens.filter(pk=token_id).first()  # only the caller's own tokens: another's is a 404
    if token is None:
        raise Http404
    learner_token_revoke(token=token)
    messages.success(request, _("Token '%(name)s' revoked.") % {"name": token.name})
    return HttpResponseRedirect(reverse("learner-home"))


@login_required
@require_POST
def learner_reminder_dismiss(request: HttpRequest, reminder_id: int) -> HttpResponse:
    message_dismiss(learner=_learner(request), message_id=reminder_id, now=timezone.now())
    return HttpResponseRedirect(reverse("learner-home"))
