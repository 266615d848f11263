"""The learner's side of the API: the next module, progress and the decision log, for the learner themself (session
or personal token; no learner id is ever taken) or for a service holding ``learners:read``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import error_responses
from common.hostile import string_problem
from identity.authentication import ApiKeyAuthentication, HasScope, LearnerTokenAuthentication
from identity.models import Learner
from identity.selectors import learner_of_caller
from playbooks.engine.readable import learner_reason, rule_name
from playbooks.selectors import learner_progress, next_module_for_learner, optional_modules
from signals_app.selectors import decisions_for_learner, flags_for_learner, reminders_for_learner


class LearnerApi(APIView):
    """Base of the endpoints about the caller's own journey: ``self.learner`` is always the caller."""

    authentication_classes = [LearnerTokenAuthentication, SessionAuthentication]  # first one answers 401
    permission_classes = [IsAuthenticated]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # Data is reached through selectors that take self.learner; a queryset hook would be a second door.
        for name in ("get_queryset", "get_object"):
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} must not define {name}: use selectors that take the learner")

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.learner = learner_of_caller(request.user)
        if self.learner is None:
            raise NotFound("This login is not linked to a learner.")


class ServiceLearnerApi(APIView):
    """Base of the endpoints a service reads a learner's journey through, by external id."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "learners:read"

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        external_id = kwargs["external_id"]
        if string_problem(external_id):  # no stored id holds one; the database would refuse the query
            raise NotFound(f"No learner '{external_id.encode('unicode_escape').decode()}'.")
        self.learner = Learner.objects.filter(external_id=external_id).first()
        if self.learner is None:
            raise NotFound(f"No learner '{external_id}'.")


class ModuleOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.CharField()
    url = serializers.CharField()
    minutes = serializers.IntegerField()


class ReasonOutput(serializers.Serializer):
    rule = serializers.CharField(
        help_text="The rule that decided, with its condition; in the learner's own answers its name only."
    )
    explanation = serializers.CharField(
        help_text="How the rule decided, with the values it saw; in the learner's own answers the same as text."
    )
    text = serializers.CharField(
        help_text="The reason in plain words for the learner: the rule's explain sentence with the values seen, or a "
        "sentence written from its condition; never the condition itself."
    )


class OtherPlaybookOutput(serializers.Serializer):
    playbook = serializers.CharField()
    module = ModuleOutput(allow_null=True)
    step = serializers.CharField(allow_null=True)
    reason = ReasonOutput(allow_null=True)
    progress = serializers.DictField(child=serializers.IntegerField())


class OptionalModuleOutput(serializers.Serializer):
    playbook = serializers.CharField()
    module = ModuleOutput()


class NextModuleOutput(serializers.Serializer):
    module = ModuleOutput(allow_null=True)
    status = serializers.ChoiceField(
        choices=["active", "completed", "not_enrolled", "deactivated"],
        help_text="deactivated: the learner has left (their journey is kept, nothing is served).",
    )
    playbook = serializers.CharField(allow_null=True)
    step = serializers.CharField(allow_null=True)
    reason = ReasonOutput(allow_null=True)
    progress = serializers.DictField(child=serializers.IntegerField())
    others = OtherPlaybookOutput(
        many=True,
        help_text="The learner's other active playbooks, each with its own next module, in the order they are served "
        "(the highest priority first, then the oldest enrolment); the answer above is the first of them all.",
    )
    optional = OptionalModuleOutput(
        many=True,
        help_text="Optional modules the learner's playbooks have unlocked for them (unlock_module) and they have "
        "neither completed nor skipped: theirs to take or leave, beside the next module.",
    )


def _module_body(module) -> dict | None:
    if module is None:
        return None
    return {
        "slug": module.slug,
        "title": module.title,
        "kind": module.kind,
        "url": module.url,
        "minutes": module.minutes,
    }


def reason_body(reason: dict | None, *, for_learner: bool) -> dict | None:
    """A reason as the ReasonOutput shape: to the learner themself, the rule's name and plain words only."""
    if not reason:
        return None
    text = learner_reason(reason)
    if for_learner:
        return {"rule": rule_name(reason.get("rule", "")), "explanation": text, "text": text}
    return {"rule": reason.get("rule", ""), "explanation": reason.get("explanation", ""), "text": text}


def next_module_body(learner: Learner, *, for_learner: bool = False) -> dict:
    """The NextModuleOutput shape, built directly: DRF's serializer copies its fields on every instantiation, a
    third of this hot endpoint's own time (the schema still comes from NextModuleOutput). ``for_learner``: the
    learner reads their own, so reasons come in plain words, without condition text."""
    answer = next_module_for_learner(learner=learner, others=True)
    enrollment, module = answer.enrollment, answer.module
    body = {
        "module": _module_body(module),
        "status": answer.status,
        "playbook": enrollment.playbook.slug if enrollment else None,
        "step": (enrollment.current_step or None) if enrollment else None,
        "reason": reason_body(enrollment.current_reason, for_learner=for_learner) if enrollment else None,
        "progress": {
            "completed": enrollment.steps_done if enrollment else 0,
            "total": enrollment.steps_total if enrollment else 0,
        },
        "others": [
            {
                "playbook": other.enrollment.playbook.slug,
                "module": _module_body(other.module),
                "step": other.enrollment.current_step or None,
                "reason": reason_body(other.enrollment.current_reason, for_learner=for_learner),
                "progress": {"completed": other.enrollment.steps_done, "total": other.enrollment.steps_total},
            }
            for other in answer.others
        ],
        "optional": [
            {"playbook": optional.playbook.slug, "module": _module_body(optional.module)}
            for optional in optional_modules(answer=answer)
        ],
    }
    if not learner.is_active:  # a leaver's journey is kept for the record, but nothing is served to them
        body.update(module=None, status="deactivated", step=None, reason=None, others=[], optional=[])
    return body


class ProgressOutput(serializers.Serializer):
    playbook = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    current = serializers.CharField(allow_null=True)
    completed = serializers.ListField(child=serializers.CharField())
    skipped = serializers.ListField(child=serializers.CharField())
    steps = serializers.DictField(child=serializers.IntegerField())
    time_spent_seconds = serializers.IntegerField()
    optional = serializers.ListField(
        child=serializers.CharField(), help_text="Slugs of the optional modules unlocked and not yet done."
    )


class DecisionOutput(serializers.Serializer):
    decided_at = serializers.DateTimeField()
    playbook = serializers.CharField(source="enrollment.playbook.slug")
    event = serializers.CharField(
        source="event.client_id", allow_null=True, help_text="The id of the event it was decided on; null: the clock."
    )
    kind = serializers.CharField()
    rule = serializers.CharField(help_text="With its condition; in the learner's own log the rule's name only.")
    explanation = serializers.CharField(help_text="In the learner's own log the same as text.")
    text = serializers.SerializerMethodField(help_text="The reason in plain words, as the learner reads it.")
    values = serializers.DictField()
    step = serializers.CharField()
    module = serializers.CharField()
    action = serializers.DictField(allow_null=True)

    def get_text(self, decision) -> str:
        return learner_reason({"rule": decision.rule, "explanation": decision.explanation, "text": decision.text})

    def to_representation(self, decision) -> dict:
        body = super().to_representation(decision)
        if self.context.get("for_learner"):
            body.update(rule=rule_name(body["rule"]), explanation=body["text"])
        return body


class DecisionPageOutput(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DecisionOutput(many=True)


class DecisionPagination(CursorPagination):
    ordering = ("-decided_at", "-pk")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


ERRORS = error_responses(401, 403, 404)


class MeOutput(serializers.Serializer):
    external_id = serializers.CharField()
    display_name = serializers.CharField()


class MeApi(LearnerApi):
    """Who the caller is, as a learner."""

    @extend_schema(responses={200: MeOutput, **error_responses(401, 404)})
    def get(self, request: Request) -> Response:
        return Response(MeOutput(self.learner).data)


class _NextModule:
    @extend_schema(responses={200: NextModuleOutput, **ERRORS})
    def get(self, request: Request, **kwargs) -> Response:
        return Response(next_module_body(self.learner, for_learner=isinstance(self, LearnerApi)))


class _Progress:
    @extend_schema(responses={200: ProgressOutput, **ERRORS})
    def get(self, request: Request, **kwargs) -> Response:
        return Response(ProgressOutput(learner_progress(learner=self.learner)).data)


class _Decisions:
    pagination_class = DecisionPagination

    @extend_schema(
        responses={200: DecisionOutput(many=True), **ERRORS},
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
    )
    def get(self, request: Request, **kwargs) -> Response:
        paginator = DecisionPagination()
        page = paginator.paginate_queryset(decisions_for_learner(learner=self.learner), request, view=self)
        context = {"for_learner": isinstance(self, LearnerApi)}
        return paginator.get_paginated_response(DecisionOutput(page, many=True, context=context).data)


class FlagOutput(serializers.Serializer):
    name = serializers.CharField()
    playbook = serializers.CharField(source="enrollment.playbook.slug")
    raised_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True, help_text="Null while the flag is open.")
    rule = serializers.CharField(source="decision.rule")
    explanation = serializers.CharField(source="decision.explanation")


class ReminderOutput(serializers.Serializer):
    playbook = serializers.CharField(source="enrollment.playbook.slug")
    channel = serializers.CharField(help_text="The channel the playbook asked for.")
    module = serializers.CharField(help_text="The module it is about; completing or skipping it cancels it.")
    due_at = serializers.DateTimeField()
    planned = serializers.CharField(
        source="status",
        help_text="How the delivery policy planned it: scheduled (perhaps deferred past quiet hours) or suppressed.",
    )
    note = serializers.CharField(help_text="Why it was deferred or suppressed.")
    delivery = serializers.CharField(
        source="message.status", allow_null=True, default=None, help_text="Its message: scheduled, sent, failed, …"
    )
    delivered_by = serializers.CharField(source="message.delivered_by", allow_null=True, default=None)
    sent_at = serializers.DateTimeField(source="message.sent_at", allow_null=True, default=None)


class NewestFirst(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class FlagPagination(NewestFirst):
    ordering = ("-raised_at", "-pk")


class ReminderPagination(NewestFirst):
    ordering = ("-due_at", "-pk")


def _paged(view, request: Request, rows, output: type[serializers.Serializer]) -> Response:
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(output(page, many=True).data)


PAGE_PARAMETERS = [OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)]


class _Flags:
    pagination_class = FlagPagination  # read by the schema: the list comes in a page

    @extend_schema(responses={200: FlagOutput(many=True), **ERRORS}, parameters=PAGE_PARAMETERS)
    def get(self, request: Request, **kwargs) -> Response:
        return _paged(self, request, flags_for_learner(learner=self.learner), FlagOutput)


class _Reminders:
    pagination_class = ReminderPagination

    @extend_schema(responses={200: ReminderOutput(many=True), **ERRORS}, parameters=PAGE_PARAMETERS)
    def get(self, request: Request, **kwargs) -> Response:
        return _paged(self, request, reminders_for_learner(learner=self.learner), ReminderOutput)


class MeNextModuleApi(_NextModule, LearnerApi):
    """The caller's next module, with the reason for it and their progress."""


class MeProgressApi(_Progress, LearnerApi):
    """What the caller has done, skipped and has left, and the time spent."""


class MeDecisionsApi(_Decisions, LearnerApi):
    """The caller's decision log, newest first."""


class LearnerNextModuleApi(_NextModule, ServiceLearnerApi):
    """A learner's next module (service key with ``learners:read``)."""


class LearnerProgressApi(_Progress, ServiceLearnerApi):
    """A learner's progress (service key with ``learners:read``)."""


class LearnerDecisionsApi(_Decisions, ServiceLearnerApi):
    """A learner's decision log, newest first (service key with ``learners:read``)."""


class MeRemindersApi(_Reminders, LearnerApi):
    """The caller's reminders, newest first: when each was due and what became of it."""


class LearnerFlagsApi(_Flags, ServiceLearnerApi):
    """The flags raised for a learner, newest first, open or acknowledged (service key with ``learners:read``)."""


class LearnerRemindersApi(_Reminders, ServiceLearnerApi):
    """A learner's reminders, newest first, with their delivery (service key with ``learners:read``)."""
