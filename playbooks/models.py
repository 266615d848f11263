from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from playbooks.validators import validate_tags


class ModuleKind(models.TextChoices):
    ARTICLE = "article", "Article"
    VIDEO = "video", "Video"
    CHECKLIST = "checklist", "Checklist"
    QUIZ = "quiz", "Quiz"
    COURSE = "course", "Course"
    INTERACTIVE = "interactive", "Interactive walkthrough"
    LINK = "link", "External link"


class ContentModuleQuerySet(models.QuerySet["ContentModule"]):
    def active(self) -> "ContentModuleQuerySet":
        return self.filter(is_active=True)


class ContentModule(models.Model):
    """One piece of onboarding content in the shared library; playbooks refer to it by slug."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ModuleKind.choices, default=ModuleKind.ARTICLE)
    url = models.URLField(max_length=500, blank=True, help_text="Where the content lives, if outside this site.")
    body = models.TextField(blank=True, help_text="Content shown on the learner page (plain text or Markdown).")
    minutes = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(600)], help_text="Expected time to complete."
    )
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])
    is_active = models.BooleanField(default=True, help_text="Inactive modules are never offered to learners.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContentModuleQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(minutes__gte=1, minutes__lte=600), name="content_module_minutes_range"),
            models.CheckConstraint(condition=Q(kind__in=ModuleKind.values), name="content_module_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.slug})"
