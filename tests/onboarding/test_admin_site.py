"""The admin's index lists the product's own sections in the order an admin works through them (playbooks, then
people, events, delivery) rather than A to Z; the sign-in page says what it signs in to."""

import pytest

from tests.factories import LearnerFactory

pytestmark = pytest.mark.django_db


def test_the_product_sections_come_first_on_the_admin_index(admin_client):
    page = admin_client.get("/admin/").content.decode()

    order = [
        page.index(name)
        for name in (
            "Playbooks and content",
            "Identity: learners and roles",
            "Behaviour events and decisions",
            "Delivery: outbox",
        )
    ]
    assert order == sorted(order)
    assert "<title>Playbooks, learners and content | Onboarding admin</title>" in page


def test_the_sign_in_page_names_the_product(client):
    page = client.get("/accounts/login/").content.decode()

    assert "Sign in to your onboarding" in page and "<title>Sign in · Onboarding</title>" in page


def test_view_site_takes_an_admin_who_is_not_a_learner_to_a_page_that_exists(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert '<a href="/admin/site/">View site</a>' in page
    response = admin_client.get("/admin/site/", follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == "/api/docs/"


def test_view_site_takes_an_admin_who_is_also_a_learner_to_their_learner_page(client, admin_user):
    LearnerFactory(external_id="ada", user=admin_user, roles=["support_specialist"])
    client.force_login(admin_user)

    response = client.get("/admin/site/", follow=True)

    assert response.status_code == 200 and response.redirect_chain[-1][0] == "/learn/"
