"""Webhook endpoints: checked where they lead when saved, and named correctly by the playbooks that use them."""

from django.core.exceptions import ValidationError

from delivery.destinations import DestinationRefused, destination_check
from delivery.models import WebhookEndpoint
from playbooks.engine.spec import ActionSpec, SpecError
from playbooks.engine.waits import nested_actions
from playbooks.models import PlaybookVersion
from playbooks.selectors import compiled_version


def webhook_endpoint_save(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Create or update an endpoint; refused (on ``url``) if it leads into an internal network not allowed."""
    try:
        destination_check(endpoint.url)
    except DestinationRefused as exc:
        raise ValidationError({"url": str(exc)}, code="destination_refused") from None
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhook_endpoints_missing(version: PlaybookVersion) -> list[SpecError]:
    """The publish check: every endpoint a version's actions name exists and is active."""
    names = set(WebhookEndpoint.objects.filter(is_active=True).values_list("name", flat=True))
    errors = []
    for index, trigger in enumerate(compiled_version(version=version).spec.triggers):
        for path, action in _actions(trigger.then, f"triggers[{index}].then"):
            name = endpoint_named(action.kind, action.argument)
            if name and name not in names:
                errors.append(
                    SpecError(
                        f"{path}.{action.kind}",
                        f"no active webhook endpoint '{name}'; add it in the admin (Delivery › Webhook endpoints)",
                    )
                )
    return errors


def _actions(actions: tuple[ActionSpec, ...], path: str) -> list[tuple[str, ActionSpec]]:
    """A trigger's actions with their paths, a wait's own ``then`` and ``else`` included."""
    found = []
    for number, action in enumerate(actions):
        found.append((f"{path}[{number}]", action))
        if action.kind == "wait" and isinstance(action.argument, dict):
            for branch in ("then", "else"):
                nested = nested_actions(action.argument.get(branch))
                found += _actions(nested, f"{path}[{number}].wait.{branch}")
    return found


def endpoint_named(kind: str, argument: object) -> str | None:
    """The endpoint a ``webhook`` or ``remind`` action names, if any."""
    if kind == "webhook":
        return argument if isinstance(argument, str) else (argument or {}).get("endpoint")
    if kind == "remind" and isinstance(argument, dict):
        return argument.get("endpoint")
    return None
