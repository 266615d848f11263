"""Personas (after healthchecks' Alice, Bob and Charlie) shared by every test."""

import pytest
from django.contrib.auth.models import Permission

from tests.factories import LearnerFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def learner(db):
    """Alice: a support specialist who logs in to the learner page."""
    return LearnerFactory(external_id="alice", user=UserFactory(username="alice"), roles=["support_specialist"])


@pytest.fixture
def other_learner(db):
    """Bob: another learner in the same company, whose data Alice must never see."""
    return LearnerFactory(external_id="bob", user=UserFactory(username="bob"), roles=["support_specialist"])


@pytest.fixture
def admin_user(db):
    """An onboarding admin: staff with the permissions on learners, roles and content, not a superuser."""
    user = UserFactory(username="onboarding-admin", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["identity", "playbooks", "delivery", "signals_app"])
    )
    return user


@pytest.fixture
def staff_without_permission(db):
    """Charlie: staff who can log in to the admin but holds no permission on our models."""
    return UserFactory(username="charlie", is_staff=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
