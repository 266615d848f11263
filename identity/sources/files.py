"""Files as an identity source: an HR export in CSV, JSON or YAML, one person per row or object.

Settings (``IdentitySource.settings``): ``path`` (inside ``IDENTITY_FILES_DIR``; an upload in the admin is stored
there too), ``format`` (csv, json or yaml; by default from the file's extension), ``id_column`` (the remote id,
default ``id``), ``groups_column`` (names split on ``;`` or ``|``), ``enabled_column`` (true/false, yes/no, 1/0,
active/inactive), ``delimiter`` (CSV, default ``,``).

CSV is read as a stream (any size, one row in memory at a time); JSON and YAML documents are read whole, so they are
limited in size (``MAX_JSON_BYTES``, ``MAX_YAML_BYTES``): export large directories as CSV. A row that cannot be read
is an ``EntryProblem`` naming its line (or item) and the column; the other rows go on. A file that cannot be read
at all (missing, no id column, not the format it claims) stops the run with a ``FileSourceError``.
"""

import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import yaml
from django.conf import settings

from identity.sources.base import AttributeValue, Entry, EntryProblem, SourceConfig

FORMATS = ("csv", "json", "yaml")
MAX_JSON_BYTES = 200_000_000
MAX_YAML_BYTES = 20_000_000  # PyYAML's pure-Python parser reads about 1 MB in 3 s
MAX_YAML_DEPTH = 20
MAX_CELL = 10_000
_GROUP_SEPARATORS = re.compile(r"[;|]")
_TRUE = frozenset({"true", "yes", "y", "1", "on", "enabled", "active"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "disabled", "inactive"})


class FileSourceError(Exception):
    """The file as a whole cannot be read; the message says what to change."""


def files_dir() -> Path:
    """Where file sources and uploads live; a source's ``path`` must be inside it."""
    return Path(settings.IDENTITY_FILES_DIR).resolve()


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be a file source's file, or None."""
    if not path:
        return "a file source needs a path"
    resolved = (files_dir() / path).resolve()
    if not resolved.is_relative_to(files_dir()):
        return f"the file must be inside {files_dir()} (IDENTITY_FILES_DIR)"
    if resolved.suffix.lower().lstrip(".") not in (*FORMATS, "yml"):
        return "the file must end in .csv, .json, .yaml or .yml (or name its format in the settings)"
    return None


class FileSource:
    """One file, read once per run."""

    def __init__(self, config: SourceConfig) -> None:
        options = config.settings
        self.name = config.name
        path = str(options.get("path") or "")
        resolved = (files_dir() / path).resolve() if path else files_dir()
        if not path or not resolved.is_relative_to(files_dir()):
            raise FileSourceError(path_problem(path) or f"{path!r} is not a usable path")
        self.path = resolved
        suffix = self.path.suffix.lower().lstrip(".")
        self.format = str(options.get("format") or ("yaml" if suffix == "yml" else suffix)).lower()
        if self.format not in FORMATS:
            raise FileSourceError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        self.id_column = str(options.get("id_column") or "id")
        self.groups_column = str(options.get("groups_column") or "")
        self.enabled_column = str(options.get("enabled_column") or "")
        self.delimiter = str(options.get("delimiter") or ",")
        self._handle: IO[str] | None = None

    def entries(self) -> Iterator[Entry | EntryProblem]:
        try:
            self._handle = self.path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise FileSourceError(f"cannot open {self.path.name}: {exc.strerror}") from exc
        try:
            if self.format == "csv":
                yield from self._csv_entries(self._handle)
            else:
                yield from self._document_entries(self._handle)
        except UnicodeDecodeError as exc:
            raise FileSourceError(f"{self.path.name} is not UTF-8 text (byte {exc.start})") from None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # CSV

    def _csv_entries(self, handle: IO[str]) -> Iterator[Entry | EntryProblem]:
        csv.field_size_limit(MAX_CELL * 10)
        reader = csv.reader(handle, delimiter=self.delimiter)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileSourceError(f"{self.path.name}, line 1: the header cannot be read ({exc})") from None
        if self.id_column not in header:
            raise FileSourceError(
                f"{self.path.name} has no id column {self.id_column!r} (its columns: {', '.join(header[:20])}); "
                "set id_column in the source's settings"
            )
        for name in (self.groups_column, self.enabled_column):
            if name and name not in header:
                raise FileSourceError(f"{self.path.name} has no column {name!r}; its columns: {', '.join(header)}")
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = reader.line_num
                yield EntryProblem(f"line {line}", None, f"the row cannot be read: {exc}")
                continue
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines
            if len(row) != len(header):
                yield EntryProblem(
                    f"line {line}", None, f"the row has {len(row)} fields, the header {len(header)}: check quoting"
                )
                continue
            values: dict[str, Any] = {}
            for name, cell in zip(header, row, strict=True):
                cell = cell.strip()
                if len(cell) > MAX_CELL:
                    values = {}
                    yield EntryProblem(f"line {line}", name, f"the value is longer than {MAX_CELL:,} characters")
                    break
                values[name] = cell or None  # an empty cell is an absent value
            else:
                yield self._entry(values, f"line {line}")

    # JSON and YAML

    def _document_entries(self, handle: IO[str]) -> Iterator[Entry | EntryProblem]:
        limit = MAX_JSON_BYTES if self.format == "json" else MAX_YAML_BYTES
        size = self.path.stat().st_size
        if size > limit:
            raise FileSourceError(
                f"{self.path.name} is {size:,} bytes; a {self.format.upper()} file holds at most {limit:,}: "
                "export large directories as CSV, which is read as a stream"
            )
        text = handle.read()
        document = self._parse(text)
        people = document.get("people") if isinstance(document, dict) else document
        if not isinstance(people, list):
            raise FileSourceError(
                f'{self.path.name} must hold a list of people, or {{"people": [...]}}; found {type(document).__name__}'
            )
        for number, person in enumerate(people, start=1):
            ref = f"item {number}"
            if not isinstance(person, dict):
                yield EntryProblem(ref, None, f"a person is an object of name: value, not {type(person).__name__}")
                continue
            values: dict[str, Any] = {}
            problem = None
            for name, value in person.items():
                if not isinstance(name, str):
                    problem = EntryProblem(ref, str(name), "attribute names are text")
                    break
                if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
                    value = [str(item) for item in value]
                elif isinstance(value, str):
                    value = value.strip() or None
                elif value is not None and (
                    isinstance(value, dict | list) or not isinstance(value, int | float | bool)
                ):
                    problem = EntryProblem(ref, name, "a value is text, a number, true/false or a list of text")
                    break
                values[name] = value
            yield problem or self._entry(values, ref)

    def _parse(self, text: str) -> Any:
        if self.format == "json":
            try:
                return json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise FileSourceError(f"{self.path.name} is not valid JSON: {exc}") from None
        loader = _SafeYamlLoader(text)
        try:
            return loader.get_single_data()
        except yaml.YAMLError as exc:
            raise FileSourceError(f"{self.path.name} is not valid YAML: {exc}") from None
        finally:
            loader.dispose()

    # Both

    def _entry(self, values: Mapping[str, Any], ref: str) -> Entry | EntryProblem:
        remote_id = values.get(self.id_column)
        if isinstance(remote_id, int | float) and not isinstance(remote_id, bool):
            remote_id = str(remote_id)
        if not isinstance(remote_id, str) or not remote_id.strip():
            return EntryProblem(ref, self.id_column, f"no id: the {self.id_column!r} value is empty")
        groups: tuple[str, ...] = ()
        if self.groups_column:
            raw = values.get(self.groups_column)
            items = raw if isinstance(raw, list) else _GROUP_SEPARATORS.split(raw) if isinstance(raw, str) else []
            groups = tuple(name.strip() for name in items if isinstance(name, str) and name.strip())
        enabled = True
        if self.enabled_column:
            raw = values.get(self.enabled_column)
            if isinstance(raw, bool):
                enabled = raw
            elif raw is not None:
                word = str(raw).strip().lower()
                if word not in _TRUE | _FALSE:
                    return EntryProblem(
                        ref, self.enabled_column, f"{str(raw)[:40]!r} is not true/false (yes/no, 1/0, active/inactive)"
                    )
                enabled = word in _TRUE
        attributes: dict[str, AttributeValue] = dict(values)
        ref = f"{ref} ({remote_id.strip()[:60]})"
        return Entry(remote_id=remote_id.strip(), attributes=attributes, groups=groups, enabled=enabled, ref=ref)


class _SafeYamlLoader(yaml.SafeLoader):
    """YAML without aliases (a small file cannot expand to gigabytes) and bounded nesting; dates stay text."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.MarkedYAMLError(
                problem="YAML aliases (&anchor / *alias) are not allowed; write the values out",
                problem_mark=event.start_mark,
            )
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_YAML_DEPTH:
            raise yaml.MarkedYAMLError(problem="nested too deeply", problem_mark=event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_SafeYamlLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
