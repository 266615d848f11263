from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Insights"

    def ready(self) -> None:
        # Experiments choose a new enrolment's version and refuse a publish that would change a running control;
        # playbooks sits below insights, so it takes both as hooks rather than importing this app.
        from insights.services.experiments import arms_choose, arms_recorded, publish_check
        from playbooks.services.enrollments import VERSION_CHOICES, VersionChoice
        from playbooks.services.versions import PUBLISH_CHECKS

        if not any(choice.choose is arms_choose for choice in VERSION_CHOICES):
            VERSION_CHOICES.append(VersionChoice(choose=arms_choose, chosen=arms_recorded))
        if publish_check not in PUBLISH_CHECKS:
            PUBLISH_CHECKS.append(publish_check)
