from playbooks.admin import blocks, content, enrollments, versions

__all__ = ["blocks", "content", "enrollments", "versions"]
