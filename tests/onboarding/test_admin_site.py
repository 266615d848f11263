"""The admin's index lists the product's own sections in the order an admin works through them (playbooks, then
people, events, delivery) rather than A to Z; the sign-in page says what it signs in to."""

import pytest

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
