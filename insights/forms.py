from django import forms

from identity.models import Role
from insights.drilldown import FIGURES
from insights.selectors import DEFAULT_SKIP_THRESHOLD, Filters
from playbooks.models import Playbook, PlaybookVersion


class DashboardForm(forms.Form):
    """The dashboard's filters (a GET form: the address of a filtered dashboard can be shared)."""

    version = forms.ModelChoiceField(queryset=PlaybookVersion.objects.none(), required=False, empty_label="all")
    role = forms.ChoiceField(required=False, help_text="The learner's primary role.")
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="UTC day.")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    skip_threshold = forms.IntegerField(
        required=False, min_value=1, max_value=100, label="Skip threshold (%)", help_text="Called out above this."
    )

    def __init__(self, data, *, playbook: Playbook) -> None:
        super().__init__(data)
        self.playbook = playbook
        self.fields["version"].queryset = PlaybookVersion.objects.filter(playbook=playbook).order_by("-number")
        self.fields["role"].choices = [("", "all"), *Role.objects.values_list("slug", "slug")]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The start day comes after the end day.")
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data if self.is_valid() else {}
        threshold = data.get("skip_threshold")
        return Filters(
            playbook=self.playbook,
            version=data.get("version"),
            role=data.get("role") or "",
            start=data.get("start"),
            end=data.get("end"),
            skip_threshold=threshold / 100 if threshold else DEFAULT_SKIP_THRESHOLD,
        )


class DrillForm(forms.Form):
    figure = forms.ChoiceField(choices=[(f, f) for f in sorted(FIGURES)])
    module = forms.CharField(required=False, max_length=100)
    name = forms.CharField(required=False, max_length=100)
