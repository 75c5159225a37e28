"""The typing of results, generated from a results table: the tap's hottest code.

A result whose keys are exactly the ones the API sends (flat, as videos are) is typed in
place by a function generated from the table (as dataclasses generates ``__init__``), so
that the table stays the one place a column is written while the per-result code has no
loop and no call per field. Any other shape is rebuilt field by field from the table.
"""

from __future__ import annotations

import typing as t
from math import isfinite

from tap_vidnavigator.records.values import (
    INT64_MAX,
    RecordError,
    iso_from_unix,
    published_time,
    to_int,
    to_number,
)

if t.TYPE_CHECKING:
    from tap_vidnavigator.records.fields import ResultField

ResultTyper = t.Callable[[t.Any], dict[str, t.Any]]


def _count(value: t.Any) -> int | None:
    # The common case (a plain int in range) without a function call per field.
    if type(value) is int and -INT64_MAX <= value <= INT64_MAX:
        return value
    return to_int(value)


def _text(value: t.Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _number(value: t.Any) -> float | int | None:
    return value if type(value) is int else to_number(value)


def _strings(value: t.Any) -> list[str] | None:
    if type(value) is not list:
        return None
    if all(type(item) is str for item in value):
        return value
    return [str(item) for item in value if item is not None]


def _objects(value: t.Any) -> list[dict] | None:
    if type(value) is not list:
        return None
    if all(type(item) is dict for item in value):
        return value
    return [item for item in value if isinstance(item, dict)]


#: The rebuild's typing of each value typing: any value in, the typed value out.
_REBUILD: dict[str, t.Callable[[t.Any], t.Any]] = {
    "text": _text,
    "count": _count,
    "number": _number,
    "strings": _strings,
    "objects": _objects,
}

#: The in-place typing of each typing, as statements on ``raw["{name}"]``: for the
#: values that are already right (nearly all), no call is made at all.
_IN_PLACE: dict[str, str] = {
    "id": "",  # checked before the in-place typing is chosen
    "task": 'raw["{name}"] = task.{name}',
    "timestamp": (
        'timestamp = raw["{name}"]\n'
        "if type(timestamp) is not int or not -INT64_MAX <= timestamp <= INT64_MAX:\n"
        '    raw["{name}"] = timestamp = to_int(timestamp)'
    ),
    "published": (
        'published = raw.get("{name}")\n'
        'raw["{name}"] = (\n'
        '    published_time(published, timestamp, raw["id"]) if published\n'
        "    else iso_from_unix(timestamp)\n"
        ")"
    ),
    "text": (
        'value = raw["{name}"]\n'
        "if value is not None and type(value) is not str:\n"
        '    raw["{name}"] = str(value)'
    ),
    "count": (
        'value = raw["{name}"]\n'
        "if value is not None and (type(value) is not int or not "
        "-INT64_MAX <= value <= INT64_MAX):\n"
        '    raw["{name}"] = to_int(value)'
    ),
    "number": (
        'value = raw["{name}"]\n'
        "kind = type(value)\n"
        "if value is not None and kind is not int and (kind is not float or not isfinite(value)):\n"
        '    raw["{name}"] = to_number(value)'
    ),
    "strings": (
        'value = raw["{name}"]\n'
        "if value is not None:\n"
        "    if type(value) is not list:\n"
        '        raw["{name}"] = None\n'
        "    else:\n"
        "        for item in value:\n"
        "            if type(item) is not str:\n"
        '                raw["{name}"] = [str(a) for a in value if a is not None]\n'
        "                break"
    ),
    "objects": (
        'value = raw["{name}"]\n'
        "if value is not None:\n"
        "    if type(value) is not list:\n"
        '        raw["{name}"] = None\n'
        "    else:\n"
        "        for item in value:\n"
        "            if type(item) is not dict:\n"
        '                raw["{name}"] = [x for x in value if isinstance(x, dict)]\n'
        "                break"
    ),
}


def in_place_source(fields: t.Sequence[ResultField]) -> str:
    """The source of the in-place typing function: each field's statements, in turn.

    ``timestamp`` goes first: ``published`` is typed from it.
    """
    first = [f for f in fields if f.typing == "timestamp"]
    ordered = first + [f for f in fields if f.typing != "timestamp"]
    body = [_IN_PLACE[f.typing].format(name=f.name) for f in ordered]
    lines = "\n".join(line for statement in body if statement for line in statement.splitlines())
    return (
        "def typed_in_place(raw, task):\n"
        + "\n".join(f"    {line}" for line in lines.splitlines())
        + "\n    return raw\n"
    )


def _compile_in_place(fields: t.Sequence[ResultField], what: str) -> t.Callable[..., dict]:
    namespace: dict[str, t.Any] = {
        "INT64_MAX": INT64_MAX,
        "to_int": to_int,
        "to_number": to_number,
        "isfinite": isfinite,
        "published_time": published_time,
        "iso_from_unix": iso_from_unix,
    }
    source = in_place_source(fields)
    exec(compile(source, f"<records: {what} typing>", "exec"), namespace)  # noqa: S102 - source built from a record table only
    return t.cast("t.Callable[..., dict]", namespace["typed_in_place"])


def _at(raw: t.Mapping[str, t.Any], path: str) -> t.Any:
    value: t.Any = raw
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class ResultShape:
    """How the results of one table are typed: in place when the API sent exactly the
    table's flat fields, rebuilt from the table otherwise."""

    def __init__(self, fields: t.Sequence[ResultField], what: str) -> None:
        self.fields = tuple(fields)
        #: How errors name a result ("a video of task").
        self.what = what
        self._sent = frozenset(f.name for f in fields if f.api == "always")
        self._sent_newer = self._sent | {f.name for f in fields if f.api == "newer"}
        # Typing in place reuses the API's dict: only when its keys are the record's.
        flat = all("." not in f.path for f in fields)
        self._in_place = _compile_in_place(fields, what) if flat else None
        [self._stamp] = [f for f in fields if f.typing == "timestamp"]

    def typer(self, task: t.Any) -> ResultTyper:
        """The function that types one result of a task (``task`` carries the fields
        typed "task", by name); RecordError when a result has no usable id."""
        in_place, rebuild = self._in_place, self.rebuild
        if in_place is None:
            return lambda raw: rebuild(raw, task)
        sent, newer = self._sent, self._sent_newer

        def typed(raw: t.Any) -> dict[str, t.Any]:
            if type(raw) is dict and (raw.keys() == sent or raw.keys() == newer):
                result_id = raw["id"]
                if type(result_id) is str and result_id:
                    return in_place(raw, task)
            return rebuild(raw, task)

        return typed

    def rebuild(self, raw: t.Any, task: t.Any) -> dict[str, t.Any]:
        """Type one result of any shape from the table; RecordError when it has no id."""
        if type(raw) is not dict:
            msg = f"{self.what} {task.task_id} is not an object: {str(raw)[:80]!r}"
            raise RecordError(msg)
        result_id = raw.get("id")
        if isinstance(result_id, int) and not isinstance(result_id, bool):
            result_id = str(result_id)
        if type(result_id) is not str or not result_id:
            msg = f"{self.what} {task.task_id} has no id: {str(raw)[:120]!r}"
            raise RecordError(msg)
        timestamp = _count(_at(raw, self._stamp.path))
        record: dict[str, t.Any] = {}
        for field in self.fields:
            how = field.typing
            if how == "id":
                record[field.name] = result_id
            elif how == "task":
                record[field.name] = getattr(task, field.name)
            elif how == "timestamp":
                record[field.name] = timestamp
            elif how == "published":
                record[field.name] = published_time(_at(raw, field.path), timestamp, result_id)
            else:
                record[field.name] = _REBUILD[how](_at(raw, field.path))
        return record
