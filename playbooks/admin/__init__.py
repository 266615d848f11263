from playbooks.admin import content, enrollments, versions

__all__ = ["content", "enrollments", "versions"]
