"""SCIM 2.0 provisioning at /scim/v2/ (Okta, Microsoft Entra ID): scim2-server speaks the protocol, our storage keeps
the resources per identity source in PostgreSQL, and every write hands the people it touched to the sync service.

- ``models``: the SCIM resources as the IdP wrote them (users, groups, memberships), per ``IdentitySource``.
- ``provider``: what the service announces (schemas, resource types, configuration) and the IdPs' quirks it accepts.
- ``storage``: scim2-server's ``ScimStorage`` over those models, bound to one source per request.
- ``entries``: a SCIM user as the sync's ``Entry`` (flat attribute paths, group names, active).
- ``views``: the Django view serving every SCIM endpoint, authenticated by the source's bearer token (``tokens``).
"""
