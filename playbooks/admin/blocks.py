"""Reusable blocks in the admin: each block's versions, the playbook versions pinning each one ("where used"), and
a form that saves a block's file as its next version."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from playbooks.engine.document import PLAYBOOK_YAML, yaml_size_problem
from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import Block, VersionInclude
from playbooks.services.blocks import block_version_save

EXAMPLE = """slug: security-basics
name: Security basics
signals:
  phishing_quiz_fails: {event: quiz_failed, aggregate: count, where: 'event.module == "phishing-quiz"'}
steps:
  - module: security-101
    required: true
triggers:
  - name: phishing help
    when: 'phishing_quiz_fails >= 2'
    then: [{insert_module: phishing-step-by-step}]
"""


class BlockFileForm(forms.Form):
    text = forms.CharField(
        label="Block file",
        widget=forms.Textarea(attrs={"rows": 24, "class": "vLargeTextField yaml-editor", "spellcheck": "false"}),
        help_text="slug, name, description, include, modules, signals, steps, triggers. Saving makes the block's "
        "next version; playbooks keep the version they pin until a new playbook version pins this one.",
    )

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        problem = yaml_size_problem(text, PLAYBOOK_YAML)
        if problem:
            raise forms.ValidationError(problem)
        return text


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "newest_version", "used_by")
    search_fields = ("slug", "name", "description")
    readonly_fields = ("slug", "name", "description", "versions_and_uses", "created_at", "updated_at")
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Block]:
        return (
            super()
            .get_queryset(request)
            .annotate(newest=Max("versions__number"), uses=Count("versions__uses", distinct=True))
        )

    @admin.display(description="Newest version", ordering="newest")
    def newest_version(self, block: Block) -> str:
        return f"v{block.newest}" if block.newest else "-"

    @admin.display(description="Used by (playbook versions)", ordering="uses")
    def used_by(self, block: Block) -> int:
        return block.uses

    @admin.display(description="Versions and where each is used")
    def versions_and_uses(self, block: Block) -> str:
        uses = VersionInclude.objects.filter(block_version__block=block).select_related("version__playbook")
        by_version: dict[int, list] = {}
        for use in uses.order_by("version__playbook__slug", "-version__number"):
            by_version.setdefault(use.block_version_id, []).append(use.version)
        rows = format_html_join(
            "",
            "<tr><th scope='row'>v{}</th><td>{}</td><td>{}</td><td><pre class='block-file'>{}</pre></td></tr>",
            (
                (v.number, v.created_at.strftime("%Y-%m-%d %H:%M"), _uses(by_version.get(v.pk, [])), v.text)
                for v in block.versions.all()
            ),
        )
        new = reverse("admin:playbooks_block_add") + f"?block={block.pk}"
        return format_html(
            "<p><a class='button' href='{}'>Save a new version</a></p><table class='block-versions'><thead><tr>"
            "<th>Version</th><th>Saved</th><th>Used by</th><th>File</th></tr></thead><tbody>{}</tbody></table>",
            new,
            rows,
        )

    def has_change_permission(self, request: HttpRequest, obj: Block | None = None) -> bool:
        return False  # a block changes only by a new version (the add form), never in place

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        block = get_object_or_404(Block, pk=request.GET["block"]) if request.GET.get("block") else None
        newest = block.versions.first() if block else None
        form = BlockFileForm(request.POST or None, initial={"text": newest.text if newest else EXAMPLE})
        errors = []
        if request.method == "POST" and form.is_valid():
            try:
                result = block_version_save(text=form.cleaned_data["text"], user=request.user)
            except PlaybookInvalid as invalid:
                errors = invalid.errors
            else:
                saved = result.version
                url = reverse("admin:playbooks_block_change", args=[saved.block_id])
                verb = "Saved" if result.created else "Nothing changed: the file equals"
                self.message_user(
                    request,
                    format_html(
                        "{} <a href='{}'>{}</a>. Pin it in a playbook with <code>include: [{{block: {}, version: {}}}]"
                        "</code>.",
                        verb,
                        url,
                        saved,
                        saved.block.slug,
                        saved.number,
                    ),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "errors": errors,
            "opts": self.model._meta,
            "target_block": block,  # not "block": the template engine keeps its {% block %} there
            "title": f"New version of {block.slug}" if block else "New reusable block",
        }
        return TemplateResponse(request, "admin/playbooks/block_version_form.html", context)


def _uses(versions: list) -> str:
    if not versions:
        return "not used"
    return format_html(
        "<ul>{}</ul>",
        format_html_join(
            "",
            "<li><a href='{}'>{} v{} ({})</a></li>",
            (
                (
                    reverse("admin:playbooks_playbookversion_change", args=[v.pk]),
                    v.playbook.slug,
                    v.number,
                    v.get_status_display(),
                )
                for v in versions
            ),
        ),
    )
