import factory
from django.contrib.auth import get_user_model

from identity.models import ApiKey, Learner, Role, RoleAssignment, RoleSource
from playbooks.models import ContentModule, ModuleKind


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def save_password(user, create, extracted, **kwargs):  # noqa: N805 - factory_boy passes the object first
        if create:
            user.save(update_fields=["password"])


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"role_{n}")
    name = factory.LazyAttribute(lambda role: role.slug.replace("_", " ").capitalize())


class LearnerFactory(factory.django.DjangoModelFactory):
    """A learner; ``roles=[...]`` (Role objects or slugs) assigns them manually."""

    class Meta:
        model = Learner
        skip_postgeneration_save = True

    external_id = factory.Sequence(lambda n: f"learner-{n}")
    display_name = factory.Faker("name")
    email = factory.LazyAttribute(lambda learner: f"{learner.external_id}@example.com")
    timezone = "Europe/Berlin"
    attributes = factory.LazyFunction(lambda: {"api_access": True, "department": "support"})

    @factory.post_generation
    def roles(learner, create, extracted, **kwargs):  # noqa: N805
        for role in extracted or []:
            role = role if isinstance(role, Role) else RoleFactory(slug=role)
            RoleAssignment.objects.create(learner=learner, role=role, source=RoleSource.MANUAL)


class ContentModuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContentModule
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"module-{n}")
    title = factory.LazyAttribute(lambda module: module.slug.replace("-", " ").capitalize())
    kind = ModuleKind.ARTICLE
    minutes = 5
    tags = factory.LazyFunction(lambda: ["basics"])


def api_key(*scopes: str, can_create_learners: bool = False) -> tuple[str, "ApiKey"]:
    """A service key holding ``scopes``: returns ``(key, ApiKey row)``."""
    from identity.services import api_key_create

    issued = api_key_create(name="test client", scopes=list(scopes), can_create_learners=can_create_learners)
    return issued.key, issued.api_key
