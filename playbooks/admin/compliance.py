"""The compliance view's CSV: one row per learner, one column per required step (the date its module was done)."""

import csv

from django.http import HttpResponse

from playbooks.compliance import Compliance


def compliance_csv(report: Compliance) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report.playbook.slug}-required-steps.csv"'
    writer = csv.writer(response)
    writer.writerow(["learner", "name", "enrolment", "all required done", *(step.key for step in report.steps)])
    for row in report.rows:
        learner = row.enrollment.learner
        writer.writerow(
            [
                _cell(learner.external_id),
                _cell(learner.display_name),
                row.enrollment.status,
                "yes" if row.complete else "no",
                *(at.isoformat() if at else "" for at in row.done),
            ]
        )
    return response


def _cell(text: str) -> str:
    # A name from an identity source opened in a spreadsheet must not run as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
