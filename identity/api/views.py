"""``PUT /api/v1/learners/{external_id}`` and ``POST /api/v1/learners/batch``: an HR system pushes people.

The key's identity source (kind ``api``, linked to the key in the admin) maps what is sent like any source's: the
HR system's own attribute names in ``attributes``, through the source's attribute mappings (names it does not map
are ignored and listed in ``unmapped``); ``email``, ``display_name``, ``timezone`` and ``locale`` are taken as
they are unless the source maps them; roles come from the source's role rules over the mapped attributes and
``groups``. ``enabled: false`` deactivates. A key linked to no source is refused: link it first.
"""

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import error_responses
from common.errors import ApplicationError, invalid_input
from common.hostile import string_problem
from identity.authentication import ApiKeyAuthentication, HasScope
from identity.mapping import LEARNER_FIELDS
from identity.models import ApiKey, IdentitySource
from identity.services.sync import ApplyResult, EntryError, entries_apply, entries_check
from identity.sources.base import Entry

MAX_BATCH = 1_000
MAX_GROUPS = 500
MAX_ATTRIBUTES = 200
ITEM_KEYS = frozenset({*LEARNER_FIELDS, "attributes", "groups", "enabled"})


class LearnerInput(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    display_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, help_text="IANA name, e.g. Europe/Berlin.")
    locale = serializers.CharField(required=False, help_text="BCP 47, e.g. de-CH.")
    attributes = serializers.DictField(
        required=False, help_text="The HR system's own attribute names; mapped by the key's identity source."
    )
    groups = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Group names, for the source's role rules."
    )
    enabled = serializers.BooleanField(required=False, default=True, help_text="false: the person has left.")


class LearnerBatchItemInput(LearnerInput):
    external_id = serializers.CharField(max_length=255)


class LearnerBatchInput(serializers.Serializer):
    learners = LearnerBatchItemInput(many=True, help_text="1 to 1,000 people.")


class LearnerPutOutput(serializers.Serializer):
    external_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["created", "linked", "updated", "unchanged", "deactivated", "reactivated", "skipped"],
        help_text="skipped: an unknown person sent as not enabled (nothing to create).",
    )
    active = serializers.BooleanField(allow_null=True)
    unmapped = serializers.ListField(
        child=serializers.CharField(), help_text="Attributes the source does not map (ignored)."
    )


class LearnerBatchOutput(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    learners = LearnerPutOutput(many=True)


class _HrApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "learners:write"

    def source(self, request: Request) -> IdentitySource:
        api_key: ApiKey = request.auth
        source = IdentitySource.objects.filter(api_key=api_key).first()
        if source is None or source.kind != "api" or not source.enabled:
            raise ApplicationError(
                "no_identity_source",
                f"The key {api_key.prefix}… is not linked to an enabled identity source of kind 'api'; an admin links "
                "it in Identity sources (the source says how its attributes map).",
                status_code=403,
            )
        return source


class LearnerPutApi(_HrApi):
    """Create or update one person (idempotent: the same body again changes nothing)."""

    @extend_schema(
        request=LearnerInput,
        responses={
            200: LearnerPutOutput,
            201: OpenApiResponse(LearnerPutOutput, description="Created."),
            **error_responses(400, 401, 403),
        },
    )
    def put(self, request: Request, external_id: str) -> Response:
        source = self.source(request)
        entry, errors = _entry(request.data, external_id=external_id, index=None, source=source)
        if entry is not None:
            errors += _mapping_errors(source, [entry], [None])
        if errors:
            raise invalid_input(errors)
        with transaction.atomic(durable=True):
            result = entries_apply(source=source, entries=[entry])
            if result.errors:
                transaction.set_rollback(True)
        if result.errors:
            raise invalid_input([_error_body(problem, None) for problem in result.errors])
        body = _outcomes(result, [entry], source)[0]
        return Response(body, status=status.HTTP_201_CREATED if body["status"] == "created" else status.HTTP_200_OK)


class LearnerBatchApi(_HrApi):
    """Create or update up to 1,000 people, all or nothing: every problem is listed with its index and nothing is
    written while any remains."""

    @extend_schema(
        request=LearnerBatchInput,
        responses={
            200: LearnerBatchOutput,
            201: OpenApiResponse(LearnerBatchOutput, description="At least one person was created."),
            **error_responses(400, 401, 403, 413),
        },
    )
    def post(self, request: Request) -> Response:
        source = self.source(request)
        body = request.data
        items = body.get("learners") if isinstance(body, Mapping) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise ApplicationError(
                "invalid", f'Send {{"learners": [...]}} with 1 to {MAX_BATCH:,} people.', field="learners"
            )
        entries: list[Entry] = []
        indexes: list[int] = []  # each entry's index in the request
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            external_id = item.get("external_id") if isinstance(item, Mapping) else None
            if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 255:
                errors.append(_problem(index, "external_id", "required", "Give each person's external id (text)."))
                continue
            entry, item_errors = _entry(
                {key: value for key, value in item.items() if key != "external_id"},
                external_id=external_id,
                index=index,
                source=source,
            )
            errors += item_errors
            if entry is not None:
                entries.append(entry)
                indexes.append(index)
        seen: dict[str, int] = {}
        for position, entry in enumerate(entries):
            first = seen.setdefault(entry.remote_id, position)
            if first != position:
                message = f"'{entry.remote_id}' is also at index {indexes[first]}; send each person once."
                errors.append(_problem(indexes[position], "external_id", "duplicate", message))
        if not errors:
            errors += _mapping_errors(source, entries, indexes)
        if errors:
            raise invalid_input(sorted(errors, key=lambda error: (error["index"] is None, error["index"] or 0)))
        with transaction.atomic(durable=True):
            result = entries_apply(source=source, entries=entries)
            if result.errors:
                transaction.set_rollback(True)
        if result.errors:
            raise invalid_input([_error_body(problem, indexes[problem.index]) for problem in result.errors])
        learners = _outcomes(result, entries, source)
        counts: dict[str, int] = {}
        for learner in learners:
            counts[learner["status"]] = counts.get(learner["status"], 0) + 1
        created = counts.get("created", 0) > 0
        return Response(
            {"counts": counts, "learners": learners}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def _problem(index: int | None, field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "code": code, "message": message}


def _entry(
    data: Any, *, external_id: str, index: int | None, source: IdentitySource
) -> tuple[Entry | None, list[dict[str, Any]]]:
    """The request's person as the source's Entry, or every problem with its shape."""
    if string_problem(external_id):
        return None, [_problem(index, "external_id", "invalid", f"The external id {string_problem(external_id)}.")]
    if not isinstance(data, Mapping):
        return None, [_problem(index, None, "invalid", "Send a JSON object describing the person.")]
    errors = [
        _problem(index, str(key), "unknown_field", f"Unknown field '{key}'; allowed: {', '.join(sorted(ITEM_KEYS))}.")
        for key in data
        if key not in ITEM_KEYS
    ]
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, Mapping) or len(attributes) > MAX_ATTRIBUTES:
        errors.append(_problem(index, "attributes", "invalid", f"An object of at most {MAX_ATTRIBUTES} name: value."))
        attributes = {}
    for name, value in attributes.items():
        if name in LEARNER_FIELDS:
            errors.append(
                _problem(index, f"attributes.{name}", "invalid", f"Send {name} at the top level, not in attributes.")
            )
        elif not _attribute_value_ok(value):
            errors.append(
                _problem(
                    index,
                    f"attributes.{name}",
                    "invalid",
                    "A value is text, a number, true/false, null or a list of text.",
                )
            )
    fields = {}
    for name in LEARNER_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            errors.append(_problem(index, name, "invalid", f"{name} is text."))
        elif value is not None:
            fields[name] = value
    groups = data.get("groups") or []
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS or not all(isinstance(g, str) for g in groups):
        errors.append(_problem(index, "groups", "invalid", f"A list of at most {MAX_GROUPS} group names (text)."))
        groups = []
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(_problem(index, "enabled", "invalid", "true or false."))
    if errors:
        return None, errors
    entry = Entry(
        remote_id=external_id,
        attributes={**attributes, **fields},
        groups=tuple(groups),
        enabled=enabled,
        ref=external_id,
    )
    return entry, []


def _attribute_value_ok(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return value is None or isinstance(value, str | int | float | bool)


def _mapping_errors(
    source: IdentitySource, entries: list[Entry], indexes: list[int] | list[None]
) -> list[dict[str, Any]]:
    return [_error_body(problem, indexes[problem.index]) for problem in entries_check(source=source, entries=entries)]


def _error_body(problem: EntryError, index: int | None) -> dict[str, Any]:
    """A mapping error names the source attribute: as the API's field (``attributes.x`` or a top-level one)."""
    field = problem.field
    if field and field not in LEARNER_FIELDS and field not in ("external_id", "groups", "remote id"):
        field = f"attributes.{field}"
    if field == "remote id":
        field = "external_id"
    return _problem(index, field, problem.code, problem.message)


def _outcomes(result: ApplyResult, entries: list[Entry], source: IdentitySource) -> list[dict[str, Any]]:
    from identity.models import Learner
    from identity.services.sync import mapper_for

    mapped_attributes = mapper_for(source).source_attributes
    active = dict(
        Learner.objects.filter(pk__in=[i for i in result.learner_ids if i is not None]).values_list("pk", "is_active")
    )
    return [
        {
            "external_id": entry.remote_id,
            "status": outcome.change,
            "active": active.get(outcome.learner_id) if outcome.learner_id else None,
            "unmapped": sorted(name for name in entry.attributes if name not in mapped_attributes),
        }
        for entry, outcome in zip(entries, result.outcomes, strict=True)
    ]
