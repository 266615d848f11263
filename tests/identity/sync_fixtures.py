"""Shared by the identity sync tests: a CSV file source in a throwaway IDENTITY_FILES_DIR, and what was sent to the
real broker (Redis) once committed."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from identity.models import AttributeMapping, IdentitySource, RoleRule
from tests.factories import RoleFactory

__all__ = ["broker", "files_dir", "hr_file"]

QUEUES = ("default", "events", "reminders", "identity")
HEADER = "id,employee_number,mail,name,department,level,groups,active"


class FileSourceHelper:
    def __init__(self, directory: Path, source: IdentitySource) -> None:
        self.directory = directory
        self.source = source

    def write(self, *rows: str, name: str = "people.csv") -> Path:
        path = self.directory / name
        path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        return path


def make_file_source(
    directory: Path, *, name: str = "hr-file", brake: int = 100, grace: str = "7d", **extra: Any
) -> IdentitySource:
    source = IdentitySource.objects.create(
        name=name,
        kind="file",
        settings={"path": "people.csv", "id_column": "id", "groups_column": "groups", "enabled_column": "active"},
        deactivation_brake=brake,
        grace_period=grace,
        **extra,
    )
    for position, (attribute, target, transform) in enumerate(
        [
            ("mail", "email", "lower"),
            ("name", "display_name", ""),
            ("department", "attributes.department", ""),
            ("level", "attributes.level", "integer"),
        ]
    ):
        AttributeMapping.objects.create(
            source=source, position=position, source_attribute=attribute, target=target, transform=transform
        )
    RoleRule.objects.create(source=source, position=0, when='"support" in groups', role=RoleFactory(slug="support"))
    RoleRule.objects.create(source=source, position=1, when="attributes.level >= 3", role=RoleFactory(slug="team_lead"))
    return source


@pytest.fixture
def files_dir(tmp_path, settings):
    settings.IDENTITY_FILES_DIR = tmp_path
    return tmp_path


@pytest.fixture
def hr_file(db, files_dir) -> FileSourceHelper:
    return FileSourceHelper(files_dir, make_file_source(files_dir))


class Broker:
    """What tasks were published to the real Redis broker (their names and keyword arguments)."""

    def __init__(self) -> None:
        self.client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self.client.delete(*QUEUES)

    def sent(self) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for queue in QUEUES:
            for raw in reversed(self.client.lrange(queue, 0, -1)):  # LPUSHed: oldest last
                message = json.loads(raw)
                body = message["body"]
                if message.get("properties", {}).get("body_encoding") == "base64":
                    body = base64.b64decode(body)
                _args, kwargs, _embed = json.loads(body)
                found.append((message["headers"]["task"], kwargs))
        self.client.delete(*QUEUES)
        return found

    def tasks(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for task, kwargs in self.sent() if task == name]


@pytest.fixture
def broker() -> Broker:
    return Broker()
