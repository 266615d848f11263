"""/scim/v2/…: every SCIM endpoint goes to one view, which scim2-server routes (Users, Groups, discovery, errors)."""

from django.urls import path, re_path

from identity.scim import views

urlpatterns = [
    path("", views.scim_endpoint, name="scim-root"),
    re_path(r"^(?P<path>.+)$", views.scim_endpoint, name="scim"),
]
