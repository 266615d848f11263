"""Publishing checks that every webhook endpoint a version's actions name exists, a wait's own actions included."""

import pytest

from playbooks.engine.spec import PlaybookInvalid
from playbooks.services import playbook_import

pytestmark = pytest.mark.django_db

PLAYBOOK = """
slug: exits
name: Exits
modules: [{slug: lab, title: Lab}]
steps: [{module: lab}]
triggers:
  - name: exit
    when: 'event.type == "module_exited"'
    then:
      - wait: {event: module_started, within: 5m, else: [{webhook: {endpoint: hr-system}}]}
"""


def test_a_webhook_in_a_waits_else_must_name_an_active_endpoint():
    with pytest.raises(PlaybookInvalid) as refused:
        playbook_import(text=PLAYBOOK, publish=True)

    assert [str(error) for error in refused.value.errors] == [
        "triggers[0].then[0].wait.else[0].webhook: no active webhook endpoint 'hr-system'; add it in the admin "
        "(Delivery › Webhook endpoints)"
    ]
