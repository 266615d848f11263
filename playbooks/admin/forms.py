"""Admin forms that check conditions and actions as they are typed, with the message on the field."""

from typing import Any

import yaml
from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.functional import cached_property
from django.utils.html import format_html

from common.forms import StorableJSONField
from playbooks import selectors
from playbooks.admin.editors import ActionsWidget, BranchWidget, JsonEditorWidget
from playbooks.engine.conditions import EVENT_FILTER, ConditionError, Vocabulary, compile_condition, vocabulary_for
from playbooks.engine.document import SAVED_JOURNEYS_YAML, branch_document, branch_from_document, load_yaml
from playbooks.engine.durations import DurationError, parse_duration
from playbooks.engine.readable import explain_errors
from playbooks.engine.spec import DUE_FROM, PlaybookInvalid, PlaybookSpec, StepSpec
from playbooks.engine.validation import validate_actions, validate_branch, vocabulary_of
from playbooks.models import PlaybookVersion, SignalDefinition, Step, Trigger
from playbooks.services import version_tests_errors


def saved_spec(version: PlaybookVersion) -> PlaybookSpec:
    """The version as saved, included blocks expanded, read once per request: every row's form of a formset holds
    the same version object, so a page of steps and triggers costs one read, not one a row."""
    if not hasattr(version, "_saved_spec"):
        version._saved_spec = selectors.version_spec(version=version)
    return version._saved_spec


def version_vocabulary(version: PlaybookVersion | None) -> Vocabulary:
    """The names a condition of ``version`` may use: its signals, those of the blocks it includes, its parameters."""
    if version is None or version.pk is None:
        return vocabulary_for(())
    return vocabulary_of(saved_spec(version))


def check_condition(expression: str, vocabulary: Vocabulary) -> str:
    if expression:
        try:
            compile_condition(expression, vocabulary)
        except ConditionError as exc:
            raise ValidationError(format_html("{}<pre>{}</pre>", exc.message, exc.pointer()), code="condition") from exc
    return expression


def check_explain(template: str, vocabulary: Vocabulary) -> str:
    """The same check as the file's ``explain:`` (engine/readable.py), each problem with its caret."""
    problems = explain_errors(template, vocabulary) if template else []
    if problems:
        raise ValidationError(
            [format_html("{}<pre>{}</pre>", p.message, p.pointer()) for p in problems], code="explain"
        )
    return template


def check_duration(text: str) -> str:
    if text:
        try:
            parse_duration(text)
        except DurationError as exc:
            raise ValidationError(str(exc), code="duration") from exc
    return text


class VersionChildFormSet(BaseInlineFormSet):
    """Hands each form the version it belongs to, whose signals conditions may name, and what its editors suggest
    (read once for the whole formset)."""

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        parent = self.instance
        kwargs["version"] = parent.version if isinstance(parent, Step) else parent
        kwargs["suggestions"] = self.suggestions
        return kwargs

    @cached_property
    def suggestions(self) -> dict[str, list[str]]:
        version = self.instance.version if isinstance(self.instance, Step) else self.instance
        steps = Step.objects.filter(version=version) if version is not None and version.pk else Step.objects.none()
        return {
            "modules": sorted(selectors.module_slugs()),
            "steps": [step_id or slug for step_id, slug in steps.values_list("step_id", "module__slug")],
        }


class VersionChildForm(forms.ModelForm):
    def __init__(
        self, *args: Any, version: PlaybookVersion | None = None, suggestions: dict | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.version = version
        for field in self.fields.values():
            if isinstance(field.widget, JsonEditorWidget):
                field.widget.modules = (suggestions or {}).get("modules", [])
                field.widget.steps = (suggestions or {}).get("steps", [])


class TriggerForm(VersionChildForm):
    class Meta:
        model = Trigger
        fields = ("position", "name", "when", "actions", "limit_per_learner", "limit_per", "cooldown", "explain")
        field_classes = {"actions": StorableJSONField}
        widgets = {
            "when": forms.Textarea(attrs={"rows": 2, "cols": 50}),
            "actions": ActionsWidget(),
            "explain": forms.Textarea(attrs={"rows": 2, "cols": 40}),
        }

    def clean_when(self) -> str:
        return check_condition(self.cleaned_data["when"], version_vocabulary(self.version))

    def clean_explain(self) -> str:
        return check_explain(self.cleaned_data["explain"], version_vocabulary(self.version))

    def clean_limit_per(self) -> str:
        return check_duration(self.cleaned_data["limit_per"])

    def clean_cooldown(self) -> str:
        return check_duration(self.cleaned_data["cooldown"])

    def clean_actions(self) -> Any:
        actions = self.cleaned_data["actions"]
        spec = saved_spec(self.version) if self.version and self.version.pk else None
        if spec is not None:
            errors = validate_actions(spec, actions, path="actions", library_modules=selectors.module_slugs())
            if errors:
                raise ValidationError([str(error) for error in errors])
        return actions


class SignalForm(VersionChildForm):
    class Meta:
        model = SignalDefinition
        fields = ("position", "name", "event", "aggregate", "property", "window", "where", "sequence", "within")
        field_classes = {"sequence": StorableJSONField}
        widgets = {
            "where": forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"}),
            "sequence": forms.Textarea(attrs={"rows": 2}),
        }

    def clean_where(self) -> str:
        return check_condition(self.cleaned_data["where"], EVENT_FILTER)

    def clean_sequence(self) -> Any:
        steps = self.cleaned_data["sequence"] or []
        if not isinstance(steps, list) or not all(
            isinstance(s, dict) and isinstance(s.get("event"), str) for s in steps
        ):
            raise ValidationError('a list of steps such as [{"event": "page_view", "where": "..."}]')
        for step in steps:
            check_condition(step.get("where") or "", EVENT_FILTER)
        return steps

    def clean_within(self) -> str:
        return check_duration(self.cleaned_data["within"])


class StepForm(VersionChildForm):
    """A step of the path; a branch point's options are edited in its row, written as in a playbook file."""

    branch = StorableJSONField(
        required=False,
        initial=list,
        widget=BranchWidget(),
        label="Branch options",
        help_text='A branch point\'s options in order, the last an otherwise: [{"when": "skips >= 3", "module": '
        '"remedial-demo"}, {"otherwise": "welcome"}] (or "goto": a later step\'s id).',
    )

    class Meta:
        model = Step
        fields = ("position", "step_id", "module", "required", "block", "tags", "due_after", "due_from", "readiness")
        help_texts = {"module": "Blank for a branch point: give it a step id and its options."}
        labels = {"due_after": "Due after", "due_from": "Due from", "readiness": "Readiness"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The inline's queryset prefetches the options: no query per step.
            self.initial["branch"] = branch_document(selectors.step_branch(step=self.instance))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "branch" in self.errors or not data.get("branch"):
            return data
        if data.get("module"):
            self.add_error("branch", "A step gives a module or branches, not both: clear the module or the options.")
            return data
        try:
            options = branch_from_document(data["branch"])
        except PlaybookInvalid as exc:
            self.add_error("branch", [str(error) for error in exc.errors])
            return data
        self._check_branch(StepSpec(id=data.get("step_id") or None, branch=options))
        data["options"] = options
        return data

    def clean_tags(self) -> list:
        return self.cleaned_data["tags"] or []  # blank: a step with its own module (or a branch point)

    def clean_due_after(self) -> str:
        return check_duration(self.cleaned_data["due_after"])

    def clean_due_from(self) -> str:
        anchor = self.cleaned_data["due_from"]
        if anchor and anchor not in DUE_FROM:
            raise ValidationError(
                f"'{anchor}' is not a choice: leave blank (reached), or write {' or '.join(DUE_FROM)}"
            )
        if anchor and not self.cleaned_data.get("due_after"):
            raise ValidationError("'Due from' needs 'Due after': how long after it the step is due")
        return anchor

    def _check_branch(self, step: StepSpec) -> None:
        if self.version is None or self.version.pk is None:
            return
        spec = saved_spec(self.version)
        index = spec.step_index(step.id) if step.id and spec.step_index(step.id) is not None else len(spec.steps)
        for error in validate_branch(spec, step, index=index, library_modules=selectors.module_slugs()):
            pointer = format_html("<pre>{}</pre>", error.pointer) if error.pointer else ""
            if error.path == "id":
                self.add_error("step_id", format_html("{}{}", error.message, pointer))
            else:
                self.add_error("branch", format_html("{}{}", str(error), pointer))


class StepFormSet(VersionChildFormSet):
    def clean(self) -> None:
        super().clean()
        seen: dict[str, int] = {}
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE") or not form.cleaned_data:
                continue
            key = form.cleaned_data.get("step_id") or getattr(form.cleaned_data.get("module"), "slug", "")
            if key and key in seen:
                form.add_error("step_id", f"duplicate step id '{key}': give each step its own id")
            seen[key] = form.cleaned_data.get("position", 0)


class SavedJourneysField(forms.CharField):
    """A version's saved journeys edited as YAML (a list of {name, journey}), stored as JSON."""

    widget = forms.Textarea(attrs={"rows": 16, "cols": 100, "class": "vLargeTextField", "spellcheck": "false"})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        return yaml.safe_dump(value or [], sort_keys=False, allow_unicode=True) if value else ""

    def to_python(self, value: Any) -> list:
        text = super().to_python(value)
        if not text.strip():
            return []
        try:
            tests = load_yaml(text, SAVED_JOURNEYS_YAML)
        except PlaybookInvalid as exc:
            raise ValidationError(str(exc.errors[0]), code="yaml") from exc
        if not isinstance(tests, list):
            raise ValidationError("Expected a list: - {name: fast skipper, journey: {learner: ..., events: ...}}")
        return tests


class VersionForm(forms.ModelForm):
    tests = SavedJourneysField(
        required=False,
        label="Saved journeys",
        help_text="Journeys that must pass before this version is published (YAML, at most 1 MB; the format is "
        "in docs/journeys.md). 'playbook' may be left out of each journey.",
    )

    class Meta:
        model = PlaybookVersion
        fields = (
            "audience_roles",
            "audience_when",
            "on_audience_exit",
            "priority",
            "frequency_cap_max",
            "frequency_cap_per",
            "quiet_hours_start",
            "quiet_hours_end",
            "tests",
        )

    def clean_tests(self) -> list:
        tests = self.cleaned_data["tests"]
        if self.instance.pk is not None and tests:
            errors = version_tests_errors(version=self.instance, tests=tests)
            if errors:
                raise ValidationError([str(error) for error in errors])
        return tests
