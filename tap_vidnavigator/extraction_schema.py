"""The user's extraction schema: read, checked, fingerprinted, and typed as columns.

The setting ``extraction`` names the fields to extract from each video in the
provider's own schema format (CONTRACT.md section 8; not JSON Schema): inline as
``schema``, or as ``schema_file``, a JSON or YAML file (the formats the provider's SDK
uploads) read by the tap and sent as the JSON schema. Pure functions, no I/O but the
file read:

* :func:`load_schema` reads the schema from the setting (a relative ``schema_file`` is
  read from the Meltano project root, ``MELTANO_PROJECT_ROOT``, or the working
  directory outside Meltano);
* :func:`schema_problems` lists every rule it breaks: the provider's (at most 10
  top-level fields, 3 levels, a known ``type``, a ``description`` on every field,
  ``enum`` for Enum, ``items`` for Array, ``properties`` for Object) and the tap's own
  (a top-level field may not take the name of one of the stream's own columns, or of
  another field, as a SQL loader names columns: ignoring case);
* :func:`checked_schema` does both and raises :class:`SchemaError` listing them all;
* :func:`fingerprint` identifies a schema and ``what_to_extract`` (what a row was
  extracted under);
* :func:`columns_schema` / :func:`stream_schema` type the user's fields as nullable
  Singer columns beside the stream's own (``records/extractions.py``).

Levels: the top-level fields are level 1; an Object's ``properties`` and an Array's
``items`` are one level below their field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import typing as t
from pathlib import Path

import yaml

from tap_vidnavigator.families import EXTRACTION
from tap_vidnavigator.records.extractions import EXTRACTION_SCHEMA, OWN_COLUMNS

#: The setting this module reads (its ``schema`` and ``schema_file`` keys).
SETTING = EXTRACTION.setting
#: The provider's field types, in its documentation's order.
TYPES = ("String", "Number", "Integer", "Boolean", "Enum", "Array", "Object")
MAX_TOP_LEVEL_FIELDS = 10
MAX_LEVELS = 3
#: The file suffixes a ``schema_file`` may have, and how each is read.
FILE_FORMATS = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}
#: Where Meltano runs the tap from: a relative ``schema_file`` is read from there.
PROJECT_ROOT_VARIABLE = "MELTANO_PROJECT_ROOT"
#: Length of a fingerprint, in hex digits.
FINGERPRINT_DIGITS = 16

Schema = dict[str, t.Any]
_EXAMPLE_FIELD = '{"type": "String", "description": "What to extract"}'


class SchemaError(ValueError):
    """The extraction schema cannot be used; ``errors`` names each field and rule."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


# ------------------------------------------------------------------ reading
def schema_path(
    schema_file: str, *, environ: t.Mapping[str, str] = os.environ, cwd: Path | None = None
) -> Path:
    """Where a ``schema_file`` is: as given when absolute, else below the Meltano
    project root (``MELTANO_PROJECT_ROOT``), else below the working directory."""
    path = Path(schema_file).expanduser()
    if path.is_absolute():
        return path
    root = environ.get(PROJECT_ROOT_VARIABLE)
    base = Path(root) if root else (cwd or Path.cwd())
    return base / path


def _no_duplicate_keys(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
    seen: dict[str, t.Any] = {}
    for key, value in pairs:
        if key in seen:
            msg = f"field {key!r} is defined twice"
            raise ValueError(msg)
        seen[key] = value
    return seen


def _relative_note(schema_file: str, environ: t.Mapping[str, str]) -> str:
    if Path(schema_file).expanduser().is_absolute():
        return ""
    root = environ.get(PROJECT_ROOT_VARIABLE)
    if root:
        return f" (a relative path is read from the Meltano project root, {root})"
    return " (a relative path is read from the working directory outside Meltano)"


def read_schema_file(
    schema_file: t.Any,
    *,
    setting: str = SETTING,
    environ: t.Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> t.Any:
    """The parsed content of a ``schema_file`` (not yet checked); SchemaError when it
    cannot be read or parsed, naming the file and how to fix it."""
    where = f"{setting}.schema_file"
    if not isinstance(schema_file, str) or not schema_file.strip():
        msg = f"{where} must be the path of a .json, .yaml or .yml file, got {schema_file!r}"
        raise SchemaError([msg])
    path = schema_path(schema_file, environ=environ, cwd=cwd)
    kind = FILE_FORMATS.get(path.suffix.lower())
    if kind is None:
        msg = (
            f"{where} {str(path)!r} must end in .json, .yaml or .yml (the formats the "
            "provider accepts); rename the file"
        )
        raise SchemaError([msg])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        note = _relative_note(schema_file, environ)
        msg = f"{where}: no file at {str(path)!r}{note}; check the path"
        raise SchemaError([msg]) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{where}: cannot read {str(path)!r} as UTF-8 text ({exc}); check the file"
        raise SchemaError([msg]) from None
    try:
        if kind == "JSON":
            return json.loads(text, object_pairs_hook=_no_duplicate_keys)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        detail = _parse_error(exc)
        msg = f"{where}: {str(path)!r} is not valid {kind} ({detail}); fix the file"
        raise SchemaError([msg]) from None


def _parse_error(exc: Exception) -> str:
    """Where a JSON or YAML parser stopped, and why, in one line."""
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return " ".join(str(exc).split())


def load_schema(
    schema: t.Any,
    schema_file: t.Any,
    *,
    setting: str = SETTING,
    environ: t.Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> tuple[t.Any, str]:
    """The schema the setting gives (inline ``schema`` or ``schema_file``'s content,
    not yet checked) and where it came from, for messages (``extraction.schema`` or
    ``extraction.schema_file (<path>)``)."""
    if schema is not None and schema_file is not None:
        msg = f"{setting}: set schema or schema_file, not both; remove one"
        raise SchemaError([msg])
    if schema_file is not None:
        content = read_schema_file(schema_file, setting=setting, environ=environ, cwd=cwd)
        path = schema_path(schema_file, environ=environ, cwd=cwd)
        return content, f"{setting}.schema_file ({path})"
    if schema is None:
        msg = (
            f"{setting}: no schema; set {setting}.schema to the fields to extract (e.g. "
            f'{{"sponsored": {{"type": "Boolean", "description": "Is it an ad?"}}}}) or '
            f"{setting}.schema_file to a JSON or YAML file holding them"
        )
        raise SchemaError([msg])
    return schema, f"{setting}.schema"


# ----------------------------------------------------------------- checking
def column_name(name: str) -> str:
    """The column a SQL loader makes of a field's name: singer-sdk's
    ``SQLSink.conform_name`` (target-postgres, target-snowflake and others use it):
    other characters than letters, digits, ``_ - .`` and spaces dropped, lower case,
    ``. -`` and spaces as ``_``, a leading digit prefixed with ``_``."""
    kept = re.sub(r"[^a-zA-Z0-9_\-\.\s]", "", name)
    conformed = kept.lower().strip().replace(".", "_").replace("-", "_").replace(" ", "_")
    return f"_{conformed}" if conformed[:1].isdigit() else conformed


def _type_hint(kind: t.Any) -> str:
    if isinstance(kind, str):
        for known in TYPES:
            if known.lower() == kind.strip().lower():
                return f" (types are case-sensitive: did you mean {known!r}?)"
    return ""


def _field_problems(field: t.Any, path: str, level: int, where: str) -> list[str]:
    """Every rule one field (and what it nests) breaks."""
    at = f"{where}: field {path!r}"
    if level > MAX_LEVELS:
        return [
            f"{at} is at level {level}; the provider allows {MAX_LEVELS} levels (top-level "
            "fields are level 1, an Object's properties and an Array's items one level "
            "deeper): flatten it"
        ]
    if not isinstance(field, dict):
        return [f"{at} must be an object such as {_EXAMPLE_FIELD}, got {field!r}"]
    problems = []
    kind = field.get("type")
    if kind not in TYPES:
        problems.append(
            f"{at} has type {kind!r}; set type to one of {', '.join(TYPES)}{_type_hint(kind)}"
        )
    description = field.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append(
            f"{at} has no description; add one (the provider requires a description on "
            "every field: it tells the model what to extract)"
        )
    if kind == "Enum":
        values = field.get("enum")
        if not isinstance(values, list) or not values:
            problems.append(
                f'{at} is an Enum without values; add "enum": a list of the allowed values'
            )
        elif not all(isinstance(value, str) and value.strip() for value in values):
            problems.append(
                f"{at} has enum values that are not all non-empty text: {values!r}; quote "
                "each value and drop the empty ones"
            )
    elif kind == "Array":
        items = field.get("items")
        if items is None:
            problems.append(
                f'{at} is an Array without items; add "items": one element\'s field, '
                f"e.g. {_EXAMPLE_FIELD}"
            )
        else:
            problems += _field_problems(items, f"{path}.items", level + 1, where)
    elif kind == "Object":
        properties = field.get("properties")
        if not isinstance(properties, dict) or not properties:
            problems.append(
                f'{at} is an Object without properties; add "properties": its sub-fields, '
                f'e.g. {{"name": {_EXAMPLE_FIELD}}}'
            )
        else:
            for name, sub in properties.items():
                problems += _field_problems(sub, f"{path}.{name}", level + 1, where)
    return problems


def _name_problems(names: t.Sequence[str], where: str) -> list[str]:
    """The tap's own rules on top-level names: no own column's, no other field's."""
    problems = []
    own = {column_name(column): column for column in OWN_COLUMNS}
    taken: dict[str, str] = {}
    for name in names:
        column = column_name(name)
        if not column:
            problems.append(
                f"{where}: field {name!r} has no letter or digit: a warehouse column cannot "
                "be named after it; rename it"
            )
        elif column in own:
            problems.append(
                f"{where}: field {name!r} takes the name of the video_extractions stream's "
                f"own column {own[column]!r} (columns are compared as SQL loaders name them: "
                "ignoring case); rename the field"
            )
        elif column in taken:
            problems.append(
                f"{where}: fields {taken[column]!r} and {name!r} would be the same column "
                f"{column!r} (names are compared ignoring case, as Snowflake upper-cases "
                "them); rename one"
            )
        else:
            taken[column] = name
    return problems


def schema_problems(schema: t.Any, *, where: str = f"{SETTING}.schema") -> list[str]:
    """Every rule the schema breaks, each naming the field and the rule; [] when none."""
    if not isinstance(schema, dict) or not schema:
        return [
            f'{where} must be an object of fields, e.g. {{"summary": {_EXAMPLE_FIELD}}}; '
            f"got {schema!r}"
        ]
    problems = []
    if len(schema) > MAX_TOP_LEVEL_FIELDS:
        problems.append(
            f"{where} has {len(schema)} top-level fields; the provider allows at most "
            f"{MAX_TOP_LEVEL_FIELDS}: remove {len(schema) - MAX_TOP_LEVEL_FIELDS} or group "
            "some in an Object"
        )
    names = [name for name in schema if isinstance(name, str)]
    problems += [
        f"{where}: field name {name!r} must be text; quote it"
        for name in schema
        if name not in names
    ]
    problems += _name_problems(names, where)
    for name in names:
        problems += _field_problems(schema[name], name, 1, where)
    return problems


def checked_schema(
    schema: t.Any,
    schema_file: t.Any,
    *,
    setting: str = SETTING,
    environ: t.Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> Schema:
    """The setting's schema, read and checked; SchemaError listing every problem."""
    content, where = load_schema(schema, schema_file, setting=setting, environ=environ, cwd=cwd)
    problems = schema_problems(content, where=where)
    if problems:
        raise SchemaError(problems)
    return t.cast("Schema", content)


# ------------------------------------------------------------- identifying
def fingerprint(schema: t.Mapping[str, t.Any], what_to_extract: str | None) -> str:
    """What an extraction was made under: a hash of the parsed schema and
    ``what_to_extract`` (16 hex digits). The same for the same content whatever its
    form (inline, JSON or YAML file, key order, spacing); a changed description,
    type, field or focus gives a new one. An empty ``what_to_extract`` is none."""
    canonical = json.dumps(
        {"schema": schema, "what_to_extract": what_to_extract or None},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:FINGERPRINT_DIGITS]


# ------------------------------------------------------------------ typing
_SCALARS = {"String": "string", "Enum": "string", "Integer": "integer", "Number": "number",
            "Boolean": "boolean"}  # fmt: skip


def column_type(field: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The nullable JSON schema of one (checked) field: String -> string, Enum -> string
    with its ``enum`` plus null, Integer -> integer, Number -> number, Boolean ->
    boolean, Array -> array of its items' type, Object -> object with its properties."""
    kind = field["type"]
    typed: dict[str, t.Any]
    if kind in _SCALARS:
        typed = {"type": [_SCALARS[kind], "null"]}
        if kind == "Enum":
            typed["enum"] = [*field["enum"], None]
    elif kind == "Array":
        typed = {"type": ["array", "null"], "items": column_type(field["items"])}
    else:
        typed = {
            "type": ["object", "null"],
            "properties": {name: column_type(sub) for name, sub in field["properties"].items()},
        }
    typed["description"] = field["description"]
    return typed


def columns_schema(schema: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """The Singer ``properties`` of the user's columns, one per top-level field, in the
    schema's order (every column nullable)."""
    return {name: column_type(field) for name, field in schema.items()}


def stream_schema(schema: t.Mapping[str, t.Mapping[str, t.Any]] | None) -> dict[str, t.Any]:
    """The ``video_extractions`` stream's JSON schema: its own columns, then the user's
    (none without a schema)."""
    whole = json.loads(json.dumps(EXTRACTION_SCHEMA))
    whole["properties"].update(columns_schema(schema or {}))
    return t.cast("dict[str, t.Any]", whole)
