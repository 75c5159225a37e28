"""The user's extraction schema (tap_vidnavigator/extraction_schema.py) and the
``video_extractions`` record table (records/extractions.py): literal inputs, literal
outputs."""

from __future__ import annotations

import json
import typing as t

import jsonschema
import pytest
import yaml

from tap_vidnavigator import extraction_schema as es
from tap_vidnavigator.emulator import extraction as provider
from tap_vidnavigator.records import extractions

#: Brand mentions, sentiment and sponsorship (docs/extraction.md's example).
SCHEMA: dict[str, t.Any] = {
    "brands": {
        "type": "Array",
        "description": "Brands or products named in the video",
        "items": {"type": "String", "description": "One brand or product"},
    },
    "sentiment": {
        "type": "Enum",
        "description": "Overall sentiment toward the brands",
        "enum": ["positive", "neutral", "negative"],
    },
    "is_sponsored": {"type": "Boolean", "description": "Is it a paid partnership?"},
    "mention_count": {"type": "Integer", "description": "How often brands are named"},
    "first_mention_at": {"type": "Number", "description": "Seconds until the first mention"},
    "call_to_action": {
        "type": "Object",
        "description": "What the viewer is asked to do",
        "properties": {
            "text": {"type": "String", "description": "Its words"},
            "discount_codes": {
                "type": "Array",
                "description": "Discount codes named",
                "items": {"type": "String", "description": "One code"},
            },
        },
    },
}


# ------------------------------------------------------------------ reading
def test_an_inline_schema_is_used_as_given():
    assert es.load_schema(SCHEMA, None) == (SCHEMA, "extraction.schema")
    assert es.checked_schema(SCHEMA, None) == SCHEMA


def test_a_relative_schema_file_is_read_from_the_meltano_project_root(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "brands.yml").write_text(yaml.safe_dump(SCHEMA), encoding="utf-8")
    environ = {"MELTANO_PROJECT_ROOT": str(tmp_path)}
    elsewhere = tmp_path / "elsewhere"
    content, where = es.load_schema(None, "schemas/brands.yml", environ=environ, cwd=elsewhere)
    assert content == SCHEMA
    assert where == f"extraction.schema_file ({tmp_path}/schemas/brands.yml)"


def test_outside_meltano_a_relative_schema_file_is_read_from_the_working_directory(tmp_path):
    (tmp_path / "brands.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    assert es.checked_schema(None, "brands.json", environ={}, cwd=tmp_path) == SCHEMA
    absolute = str(tmp_path / "brands.json")
    assert (
        es.schema_path(absolute, environ={"MELTANO_PROJECT_ROOT": "/x"}) == tmp_path / "brands.json"
    )


def test_the_same_schema_in_json_yaml_or_inline_has_one_fingerprint(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps(SCHEMA, indent=4), encoding="utf-8")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SCHEMA, sort_keys=True), encoding="utf-8")
    loaded = [es.checked_schema(None, f"s.{suffix}", environ={}, cwd=tmp_path)
              for suffix in ("json", "yaml")]  # fmt: skip
    prints = {es.fingerprint(schema, "brand deals") for schema in [SCHEMA, *loaded]}
    assert prints == {es.fingerprint(SCHEMA, "brand deals")}
    # Pinned: a change here would re-extract (re-buy) every video of every user.
    assert es.fingerprint({"a": {"type": "String", "description": "d"}}, None) == "4cb50968118babf9"
    assert es.fingerprint({"a": {"type": "String", "description": "d"}}, "") == "4cb50968118babf9"
    assert es.fingerprint({"a": {"type": "String", "description": "d"}}, "focus") == (
        "24e179b3c442fe38"
    )
    changed = {**SCHEMA, "is_sponsored": {"type": "Boolean", "description": "An ad?"}}
    assert es.fingerprint(changed, "brand deals") != es.fingerprint(SCHEMA, "brand deals")


@pytest.mark.parametrize(
    ("schema", "schema_file", "message"),
    [
        (SCHEMA, "s.json", "extraction: set schema or schema_file, not both; remove one"),
        (
            None,
            None,
            "extraction: no schema; set extraction.schema to the fields to extract (e.g. "
            '{"sponsored": {"type": "Boolean", "description": "Is it an ad?"}}) or '
            "extraction.schema_file to a JSON or YAML file holding them",
        ),
        (
            None,
            "",
            "extraction.schema_file must be the path of a .json, .yaml or .yml file, got ''",
        ),
        (
            None,
            "missing.yaml",
            "extraction.schema_file: no file at '{root}/missing.yaml' (a relative path is "
            "read from the Meltano project root, {root}); check the path",
        ),
        (
            None,
            "schema.txt",
            "extraction.schema_file '{root}/schema.txt' must end in .json, .yaml or .yml "
            "(the formats the provider accepts); rename the file",
        ),
        (
            None,
            "broken.json",
            "extraction.schema_file: '{root}/broken.json' is not valid JSON (line 1, column 2: "
            "Expecting property name enclosed in double quotes); fix the file",
        ),
        (
            None,
            "twice.json",
            "extraction.schema_file: '{root}/twice.json' is not valid JSON (field 'a' is "
            "defined twice); fix the file",
        ),
        (
            None,
            "broken.yaml",
            "extraction.schema_file: '{root}/broken.yaml' is not valid YAML (line 1, column 9: "
            "expected ',' or ']', but got '<stream end>'); fix the file",
        ),
    ],
)
def test_a_schema_that_cannot_be_read_is_refused_saying_where_and_how_to_fix(
    tmp_path, schema, schema_file, message
):
    (tmp_path / "schema.txt").write_text("{}", encoding="utf-8")
    (tmp_path / "broken.json").write_text("{'a': 1}", encoding="utf-8")
    (tmp_path / "twice.json").write_text('{"a": 1, "a": 2}', encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("a: [1, 2", encoding="utf-8")
    with pytest.raises(es.SchemaError) as raised:
        es.checked_schema(schema, schema_file, environ={"MELTANO_PROJECT_ROOT": str(tmp_path)})
    assert raised.value.errors == [message.replace("{root}", str(tmp_path))]


# ----------------------------------------------------------------- checking
def test_every_broken_rule_is_listed_with_its_field_and_how_to_fix_it():
    bad = {
        "Video_ID": {"type": "String", "description": "x"},
        "brand": {"type": "string", "description": "x"},
        "Brand": {"type": "Boolean"},
        "mood": {"type": "Enum", "description": "m"},
        "tags": {"type": "Array", "description": "t"},
        "cta": {
            "type": "Object",
            "description": "c",
            "properties": {
                "a": {
                    "type": "Array",
                    "description": "d",
                    "items": {
                        "type": "Object",
                        "description": "e",
                        "properties": {"z": {"type": "String", "description": "z"}},
                    },
                }
            },
        },
        "???": {"type": "Integer", "description": "q"},
        "levels": {"type": "Enum", "description": "l", "enum": ["a", ""]},
        "empty": {"type": "Object", "description": "o", "properties": {}},
        "plain": "a string",
    }
    with pytest.raises(es.SchemaError) as raised:
        es.checked_schema(bad, None)
    assert raised.value.errors == [
        "extraction.schema: field 'Video_ID' takes the name of the video_extractions stream's "
        "own column 'video_id' (columns are compared as SQL loaders name them: ignoring "
        "case); rename the field",
        "extraction.schema: fields 'brand' and 'Brand' would be the same column 'brand' "
        "(names are compared ignoring case, as Snowflake upper-cases them); rename one",
        "extraction.schema: field '???' has no letter or digit: a warehouse column cannot "
        "be named after it; rename it",
        "extraction.schema: field 'brand' has type 'string'; set type to one of String, "
        "Number, Integer, Boolean, Enum, Array, Object (types are case-sensitive: did you "
        "mean 'String'?)",
        "extraction.schema: field 'Brand' has no description; add one (the provider "
        "requires a description on every field: it tells the model what to extract)",
        "extraction.schema: field 'mood' is an Enum without values; add \"enum\": a list "
        "of the allowed values",
        "extraction.schema: field 'tags' is an Array without items; add \"items\": one "
        'element\'s field, e.g. {"type": "String", "description": "What to extract"}',
        "extraction.schema: field 'cta.a.items.z' is at level 4; the provider allows 3 "
        "levels (top-level fields are level 1, an Object's properties and an Array's items "
        "one level deeper): flatten it",
        "extraction.schema: field 'levels' has enum values that are not all non-empty "
        "text: ['a', '']; quote each value and drop the empty ones",
        "extraction.schema: field 'empty' is an Object without properties; add "
        '"properties": its sub-fields, e.g. {"name": {"type": "String", "description": '
        '"What to extract"}}',
        'extraction.schema: field \'plain\' must be an object such as {"type": "String", '
        '"description": "What to extract"}, got \'a string\'',
    ]
    assert es.schema_problems(
        {f"f{i}": {"type": "String", "description": "d"} for i in range(11)}
    ) == [
        "extraction.schema has 11 top-level fields; the provider allows at most 10: "
        "remove 1 or group some in an Object"
    ]


def test_a_schema_files_errors_name_the_file(tmp_path):
    (tmp_path / "s.yaml").write_text("mood:\n  type: Enum\n  description: m\n", encoding="utf-8")
    with pytest.raises(es.SchemaError) as raised:
        es.checked_schema(None, "s.yaml", environ={}, cwd=tmp_path)
    assert raised.value.errors == [
        f"extraction.schema_file ({tmp_path}/s.yaml): field 'mood' is an Enum without "
        'values; add "enum": a list of the allowed values'
    ]
    assert es.schema_problems([], where="x") == [
        'x must be an object of fields, e.g. {"summary": {"type": "String", "description": '
        '"What to extract"}}; got []'
    ]
    assert es.schema_problems({1: {"type": "String", "description": "d"}}) == [
        "extraction.schema: field name 1 must be text; quote it"
    ]


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("Brand Mentions", "brand_mentions"),
        ("brand-mentions", "brand_mentions"),
        ("price.usd", "price_usd"),
        ("3d_effects", "_3d_effects"),
        ("Café ☕", "caf"),
        ("VIDEO_URL", "video_url"),
    ],
)
def test_names_are_compared_as_sql_loaders_name_columns(name, column):
    assert es.column_name(name) == column


def test_the_tap_refuses_exactly_what_the_provider_refuses():
    """The tap's rules and the emulator's (the provider's, written separately) agree."""
    deep = {"type": "Array", "description": "d", "items": {"type": "Array", "description": "d",
            "items": {"type": "String", "description": "d"}}}  # fmt: skip
    too_deep = {"type": "Array", "description": "d", "items": deep}
    cases = [
        SCHEMA,
        {"a": deep},
        {"a": too_deep},
        {"a": {"type": "Number"}},
        {"a": {"type": "Enum", "description": "d", "enum": []}},
        {"a": {"type": "Object", "description": "d", "properties": {"b": deep}}},
        {f"f{i}": {"type": "Integer", "description": "d"} for i in range(10)},
        {f"f{i}": {"type": "Integer", "description": "d"} for i in range(11)},
        {"a": {"type": "Boolean", "description": "  "}},
    ]
    verdicts = [
        (not es.schema_problems(schema), provider.schema_problem(schema) is None)
        for schema in cases
    ]
    assert verdicts == [(True, True), (True, True), (False, False), (False, False),
                        (False, False), (False, False), (True, True), (False, False),
                        (False, False)]  # fmt: skip


# ------------------------------------------------------------------- typing
def test_the_users_fields_become_nullable_typed_columns():
    assert es.columns_schema(SCHEMA) == {
        "brands": {
            "type": ["array", "null"],
            "items": {"type": ["string", "null"], "description": "One brand or product"},
            "description": "Brands or products named in the video",
        },
        "sentiment": {
            "type": ["string", "null"],
            "enum": ["positive", "neutral", "negative", None],
            "description": "Overall sentiment toward the brands",
        },
        "is_sponsored": {"type": ["boolean", "null"], "description": "Is it a paid partnership?"},
        "mention_count": {"type": ["integer", "null"], "description": "How often brands are named"},
        "first_mention_at": {
            "type": ["number", "null"],
            "description": "Seconds until the first mention",
        },
        "call_to_action": {
            "type": ["object", "null"],
            "properties": {
                "text": {"type": ["string", "null"], "description": "Its words"},
                "discount_codes": {
                    "type": ["array", "null"],
                    "items": {"type": ["string", "null"], "description": "One code"},
                    "description": "Discount codes named",
                },
            },
            "description": "What the viewer is asked to do",
        },
    }


def test_the_streams_schema_is_its_own_columns_then_the_users():
    own = es.stream_schema(None)
    assert own == extractions.EXTRACTION_SCHEMA
    assert list(own["properties"]) == [
        "video_id", "video_url", "found_by", "profile_url", "query", "task_id",
        "schema_fingerprint", "extracted_at", "credits_used", "error_code", "error_message",
    ]  # fmt: skip
    assert own["properties"]["video_id"] == {"type": ["string"], "description": "TikTok video ID."}
    assert own["properties"]["extracted_at"]["format"] == "date-time"
    assert own["properties"]["credits_used"]["type"] == ["number", "null"]
    whole = es.stream_schema(SCHEMA)
    assert list(whole["properties"]) == [*own["properties"], *SCHEMA]
    assert own == extractions.EXTRACTION_SCHEMA  # not changed by the call


# --------------------------------------------------------------------- rows
JOB = {
    "task_id": "0b8c",
    "task_status": "completed",
    "completed_at": "2026-12-07T03:00:00Z",
    "error": None,
    "result": {
        "brands": ["Nike", 3],
        "sentiment": "positive",
        "is_sponsored": True,
        "mention_count": "4",
        "first_mention_at": 1.5,
        "call_to_action": {"text": "Use code X", "discount_codes": ["X"], "extra": 1},
        "unasked": "dropped",
    },
}
USAGE = {"total_credits": 1.0417, "charges": []}
ROW_HEAD = {
    "video_id": "7300000000000000001",
    "video_url": "https://www.tiktok.com/@a/video/7300000000000000001",
    "found_by": "profile",
    "profile_url": "https://www.tiktok.com/@a",
    "query": None,
    "task_id": "0b8c",
    "schema_fingerprint": "4cb50968118babf9",
    "extracted_at": "2026-12-07T03:00:00+00:00",
}


def _row(job: dict[str, t.Any], usage: dict[str, t.Any] | None, found_by: str = "profile"):
    subject = "https://www.tiktok.com/@a" if found_by == "profile" else "#ad nike"
    return extractions.extraction_row(
        video_id="7300000000000000001",
        video_url="https://www.tiktok.com/@a/video/7300000000000000001",
        found_by=found_by,
        subject=subject,
        fingerprint="4cb50968118babf9",
        schema=SCHEMA,
        job=job,
        usage=usage,
    )


def test_a_completed_job_makes_a_row_of_typed_values():
    row = _row(JOB, USAGE)
    assert row == {
        **ROW_HEAD,
        "credits_used": 1.0417,
        "error_code": None,
        "error_message": None,
        "brands": ["Nike", None],
        "sentiment": "positive",
        "is_sponsored": True,
        "mention_count": 4,
        "first_mention_at": 1.5,
        "call_to_action": {"text": "Use code X", "discount_codes": ["X"]},
    }
    jsonschema.validate(row, es.stream_schema(SCHEMA))


def test_a_failed_job_makes_a_row_with_its_error_and_null_fields():
    failed = {
        "task_id": "0b8c",
        "task_status": "failed",
        "completed_at": "2026-12-07T03:00:00Z",
        "error": {
            "error": "transcript_not_available",
            "message": "No transcript",
            "http_status": 404,
        },
        "result": None,
    }
    row = _row(failed, {"total_credits": 0, "charges": []}, found_by="search")
    assert row == {
        **ROW_HEAD,
        "found_by": "search",
        "profile_url": None,
        "query": "#ad nike",
        "credits_used": 0,
        "error_code": "transcript_not_available",
        "error_message": "No transcript",
        "brands": None,
        "sentiment": None,
        "is_sponsored": None,
        "mention_count": None,
        "first_mention_at": None,
        "call_to_action": None,
    }
    jsonschema.validate(row, es.stream_schema(SCHEMA))


@pytest.mark.parametrize(
    ("field", "value", "typed"),
    [
        ({"type": "String"}, 5, None),
        ({"type": "Integer"}, 2.0, 2),
        ({"type": "Integer"}, "x", None),
        ({"type": "Number"}, "2.5", 2.5),
        ({"type": "Boolean"}, "true", None),
        ({"type": "Enum", "enum": ["a"]}, "a", "a"),
        ({"type": "Array", "items": {"type": "Integer"}}, "1,2", None),
        ({"type": "Object", "properties": {"n": {"type": "Integer"}}}, [1], None),
    ],
)
def test_a_value_that_does_not_fit_its_field_is_null(field, value, typed):
    assert extractions.typed_value(field, value) == typed
