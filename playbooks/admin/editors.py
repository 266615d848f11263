"""Structured editors over the admin's JSON fields: a trigger's actions and a branch point's options.

The field stays a JSON text area, which the form validates as before (so an error still names its path, e.g.
``actions[0].remind.channel``). playbooks/static/playbooks/admin-editors.js, when it runs, hides the text area and
draws one row per action or option from the description below, writing the JSON back on every change. Without
JavaScript, or for a value it cannot draw, the text area is left as it is.
"""

import json
from typing import Any

from django import forms

from playbooks.engine.validation import CHANNELS

MODULE = {"name": "module", "label": "Module", "type": "module"}
# How each action is written (``shape``) and the fields of its argument. scalar: {kind: value of the one field};
# mapping: {kind: {field: value, ...}}; true: {kind: true}.
ACTION_FIELDS: dict[str, dict[str, Any]] = {
    "insert_module": {"label": "Insert a module next", "shape": "scalar", "fields": [MODULE]},
    "swap_module": {"label": "Swap the current module for", "shape": "scalar", "fields": [MODULE]},
    "unlock_module": {"label": "Unlock an optional module", "shape": "scalar", "fields": [MODULE]},
    "goto": {
        "label": "Go to a later step",
        "shape": "scalar",
        "fields": [{"name": "step", "label": "Step", "type": "step"}],
    },
    "remind": {
        "label": "Send a reminder",
        "shape": "mapping",
        "fields": [
            {"name": "channel", "label": "Channel", "type": "select", "choices": list(CHANNELS)},
            {"name": "template", "label": "Template", "type": "text"},
            {"name": "fallback", "label": "Fallback channel", "type": "select", "choices": ["", *CHANNELS]},
            {"name": "attach_module", "label": "Attach module", "type": "module"},
            {"name": "delay", "label": "Delay (e.g. 2h)", "type": "text"},
            {"name": "endpoint", "label": "Endpoint (webhook channel)", "type": "text"},
            {"name": "critical", "label": "Critical (past quiet hours)", "type": "checkbox"},
        ],
    },
    "flag": {
        "label": "Raise a flag",
        "shape": "scalar",
        "fields": [{"name": "flag", "label": "Flag name", "type": "text"}],
    },
    "complete": {"label": "Complete the playbook", "shape": "true", "fields": []},
    "webhook": {
        "label": "Call a webhook",
        "shape": "mapping",
        "fields": [
            {"name": "endpoint", "label": "Endpoint", "type": "text"},
            {"name": "event", "label": "Event type (e.g. onboarding.learner_stuck)", "type": "text"},
        ],
    },
    "wait": {
        "label": "Wait for an event",
        "shape": "mapping",
        "fields": [
            {"name": "event", "label": "Event type", "type": "text"},
            {"name": "where", "label": "Where (on event.*)", "type": "condition"},
            {"name": "key", "label": "Same (module or properties.NAME)", "type": "text"},
            {"name": "within", "label": "Within (e.g. 5m)", "type": "text"},
            {"name": "then", "label": "Then, if it came", "type": "actions"},
            {"name": "else", "label": "Else, if it did not", "type": "actions"},
        ],
    },
}


class JsonEditorWidget(forms.Textarea):
    """A JSON text area that admin-editors.js turns into rows; ``choices`` are offered as suggestions."""

    editor = ""

    class Media:
        js = ("playbooks/admin-editors.js",)
        css = {"all": ("playbooks/admin-editors.css",)}

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__({"rows": 3, "class": "json-editor", "data-editor": self.editor, **(attrs or {})})
        self.modules: list[str] = []
        self.steps: list[str] = []

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        extra = {"data-modules": json.dumps(self.modules), "data-steps": json.dumps(self.steps)}
        context["widget"]["attrs"] = {**context["widget"]["attrs"], **extra, **self.editor_attrs()}
        return context

    def editor_attrs(self) -> dict[str, str]:
        return {}


class ActionsWidget(JsonEditorWidget):
    editor = "actions"

    def editor_attrs(self) -> dict[str, str]:
        return {"data-schema": json.dumps(ACTION_FIELDS)}


class BranchWidget(JsonEditorWidget):
    editor = "branch"
