"""Record tables: a column each, and what every table shares.

A results table lists :class:`ResultField` (each typed by one of the typings of
``records/result_typing.py``); a tasks table lists :class:`TaskField` (each read from a
terminal task body by a function). The schema and the records derive from the table.
"""

from __future__ import annotations

import dataclasses
import typing as t

from singer_sdk import typing as th

from tap_vidnavigator.records.values import to_datetime, to_int, to_number, to_text

ColumnType = th.JSONTypeHelper | type[th.JSONTypeHelper]
#: How a result column is typed (records/result_typing.py): ``id`` (the result's identity),
#: ``task`` (the same for every result of a task: read from its TaskInfo), ``timestamp``
#: and ``published`` (unix seconds, and the time typed from them), or a value typing.
ResultTyping = t.Literal[
    "id", "task", "timestamp", "published", "text", "count", "number", "strings", "objects"
]


@dataclasses.dataclass(frozen=True)
class ResultField:
    """One column of a results record."""

    name: str
    type: ColumnType
    typing: ResultTyping
    description: str | None = None
    #: "always" sent by the API, "newer" only by newer versions, or "never" (the tap
    #: adds it).
    api: t.Literal["always", "newer", "never"] = "always"
    required: bool = False
    #: Where the value is in the API object (``a.b``: field ``b`` of object ``a``); by
    #: default the field's own name.
    source: str = ""

    @property
    def path(self) -> str:
        """Where the value is read from."""
        return self.source or self.name


class Source(t.NamedTuple):
    """What a task record is read from: the terminal body, its subject and usage."""

    data: t.Mapping[str, t.Any]
    subject: str
    usage: t.Mapping[str, t.Any]

    @property
    def error(self) -> dict[str, t.Any]:
        error = self.data.get("error")
        return error if isinstance(error, dict) else {}

    @property
    def waived(self) -> dict[str, t.Any]:
        waived = self.usage.get("waived")
        return waived if isinstance(waived, dict) else {}

    def object(self, name: str) -> dict[str, t.Any] | None:
        """A field of the body that is an object, else None."""
        value = self.data.get(name)
        return value if isinstance(value, dict) else None


@dataclasses.dataclass(frozen=True)
class TaskField:
    """One column of a tasks record."""

    name: str
    type: ColumnType
    #: Reads the typed value from a terminal task body.
    read: t.Callable[[Source], t.Any]
    description: str | None = None
    required: bool = False


class Column(t.Protocol):
    """What the schema needs of a column, in any table."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> ColumnType: ...
    @property
    def description(self) -> str | None: ...
    @property
    def required(self) -> bool: ...


class RowColumn(t.NamedTuple):
    """A column of a table whose rows are built whole by their own function (an
    enrichment's): its name, type and description; key columns are never null."""

    name: str
    type: ColumnType
    description: str
    required: bool = False


def schema_of(fields: t.Sequence[Column]) -> dict[str, t.Any]:
    """The JSON schema of a record table."""
    return th.PropertiesList(
        *(
            th.Property(f.name, f.type, required=f.required, description=f.description)
            for f in fields
        )
    ).to_dict()


def task_record_from(fields: t.Sequence[TaskField], source: Source) -> dict[str, t.Any]:
    """A task record of any family: each field read from the source by its table entry."""
    return {field.name: field.read(source) for field in fields}


Typer = t.Callable[[t.Any], t.Any]


def typed_object(value: t.Any, typers: t.Mapping[str, Typer]) -> dict[str, t.Any] | None:
    """An object with known fields, each typed, or None when it is not an object."""
    if not isinstance(value, dict):
        return None
    return {name: typer(value.get(name)) for name, typer in typers.items()}


def object_type(typers: t.Mapping[str, Typer]) -> th.ObjectType:
    """The JSON type of what :func:`typed_object` makes with the same typers."""
    return th.ObjectType(
        *(
            th.Property(name, th.IntegerType if typer is to_int else th.StringType)
            for name, typer in typers.items()
        )
    )


# ----------------------------------------------------- every task's tail
def _flag(value: t.Any) -> bool | None:
    return value if isinstance(value, bool) else None


_WEBHOOK: dict[str, Typer] = {
    "status": to_text,
    "attempts": to_int,
    "response_status": to_int,
    "last_error": to_text,
    "delivered_at": to_datetime,
}
_WEBHOOK_TYPE = th.ObjectType(
    *(
        th.Property(name, th.DateTimeType if typer is to_datetime else th.IntegerType
                    if typer is to_int else th.StringType)
        for name, typer in _WEBHOOK.items()
    )
)  # fmt: skip
_CHARGE: dict[str, Typer] = {
    "service_type": to_text,
    "quantity": to_number,
    "credits": to_number,
    "waived": _flag,
    "credits_saved": to_number,
}
_CHARGES_TYPE = th.ArrayType(
    th.ObjectType(
        th.Property("service_type", th.StringType),
        th.Property("quantity", th.NumberType),
        th.Property("credits", th.NumberType),
        th.Property("waived", th.BooleanType),
        th.Property("credits_saved", th.NumberType),
    )
)


def _charges(value: t.Any) -> list[dict[str, t.Any]] | None:
    if not isinstance(value, list):
        return None
    return [typed_object(charge, _CHARGE) for charge in value if isinstance(charge, dict)]  # type: ignore[misc]


def task_head(subject: TaskField) -> tuple[TaskField, ...]:
    """What every family's task record starts with: its id, status and subject."""
    return (
        TaskField("task_id", th.StringType, lambda s: str(s.data["task_id"]), required=True),
        TaskField(
            "task_status",
            th.StringType,
            lambda s: s.data.get("task_status"),
            "completed or failed.",
        ),
        subject,
    )


#: What every family's task record ends with: the error, the webhook, credits and times.
TASK_TAIL: tuple[TaskField, ...] = (
    TaskField(
        "error_code",
        th.StringType,
        lambda s: to_text(s.error.get("error") or s.error.get("code")),
        "Why a failed task failed (code).",
    ),
    TaskField(
        "error_message",
        th.StringType,
        # The error object wins over the deprecated error_message.
        lambda s: to_text(s.error.get("message") or s.data.get("error_message")),
        "Why a failed task failed.",
    ),
    TaskField(
        "error_http_status",
        th.IntegerType,
        lambda s: to_int(s.error.get("http_status")),
        "The HTTP status the synchronous call would have failed with.",
    ),
    TaskField(
        "webhook",
        _WEBHOOK_TYPE,
        lambda s: typed_object(s.data.get("webhook"), _WEBHOOK),
        "Delivery of the task's webhook, when it has one.",
    ),
    TaskField(
        "credits_used",
        th.NumberType,
        lambda s: to_number(s.usage.get("total_credits")),
        "Credits this task cost (usage.total_credits); null when not reported.",
    ),
    TaskField(
        "credits_remaining_after",
        th.NumberType,
        lambda s: to_number(s.usage.get("credits_remaining_after")),
        "The key's credit balance right after this task was charged.",
    ),
    TaskField(
        "credits_saved",
        th.NumberType,
        lambda s: to_number(s.waived.get("credits_saved")),
        "Credits waived for this task.",
    ),
    TaskField(
        "charges",
        _CHARGES_TYPE,
        lambda s: _charges(s.usage.get("charges")),
        "Each meter charged for this task (usage.charges).",
    ),
    TaskField("created_at", th.DateTimeType, lambda s: to_datetime(s.data.get("created_at"))),
    TaskField("completed_at", th.DateTimeType, lambda s: to_datetime(s.data.get("completed_at"))),
    TaskField("expires_at", th.DateTimeType, lambda s: to_datetime(s.data.get("expires_at"))),
)
