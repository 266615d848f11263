"""Writes in the playbooks app: the content library, playbook versions, enrolments."""

from playbooks.services.enrollments import (
    Advance,
    RerouteResult,
    enrollment_advance,
    enrollment_evaluate,
    enrollments_advance,
    learner_enroll,
    learners_reroute,
    tallies_forget,
)
from playbooks.services.modules import MODULE_FIELDS, module_create, module_update, module_upsert
from playbooks.services.versions import (
    ImportResult,
    draft_create,
    playbook_import,
    playbook_parse,
    playbook_publish,
    playbook_stage,
    step_branch_set,
    version_errors,
    version_tests_errors,
    version_tests_set,
    version_write_spec,
)

__all__ = [
    "Advance",
    "enrollments_advance",
    "MODULE_FIELDS",
    "ImportResult",
    "draft_create",
    "enrollment_advance",
    "enrollment_evaluate",
    "learner_enroll",
    "learners_reroute",
    "RerouteResult",
    "tallies_forget",
    "module_create",
    "module_update",
    "module_upsert",
    "playbook_import",
    "playbook_parse",
    "playbook_publish",
    "playbook_stage",
    "step_branch_set",
    "version_errors",
    "version_tests_errors",
    "version_tests_set",
    "version_write_spec",
]
