"""tap.py, meltano.yml, the README table, the Hub definition and catalog.json agree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import plugin_metadata

# Vendored (source, commit and licence in SOURCE.md there): the suite reads nothing
# outside the repository.
HUB_SCHEMAS = ROOT / "tests" / "vendor" / "meltano-hub-schemas"


def _about() -> dict:
    return plugin_metadata.about()


def test_generated_files_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "plugin_metadata.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_catalog_json_is_the_discover_output():
    discovered = subprocess.run(
        [sys.executable, "-m", "tap_vidnavigator.tap", "--discover"],
        capture_output=True,
        check=True,
    ).stdout
    assert json.loads(discovered) == json.loads((ROOT / "catalog.json").read_text())


def test_every_setting_has_a_title_and_a_description():
    for name, prop in _about()["settings"]["properties"].items():
        assert prop.get("description"), name
        if not name.startswith(("stream_map", "faker", "flattening")):
            assert prop.get("title"), name


def test_meltano_yml_mirrors_the_tap_settings():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    extractor = project["plugins"]["extractors"][0]
    assert extractor["name"] == "tap-vidnavigator" and extractor["namespace"] == "tap_vidnavigator"
    assert extractor["settings"] == plugin_metadata.meltano_settings()
    assert extractor["capabilities"] == plugin_metadata.CAPABILITIES
    secrets = {n for n, p in _about()["settings"]["properties"].items() if p.get("secret")}
    assert (
        secrets == {s["name"] for s in extractor["settings"] if s.get("sensitive")} == {"api_key"}
    )
    about_capabilities = set(_about()["capabilities"])
    assert set(extractor["capabilities"]) == about_capabilities


def _hub_validator() -> jsonschema.Draft7Validator:
    """The Hub's extractor schema, with its relative $refs resolved offline."""
    resources = []
    for path in HUB_SCHEMAS.rglob("*.schema.json"):
        schema = json.loads(path.read_text())
        resource = Resource.from_contents(schema)
        resources += [(path.resolve().as_uri(), resource), (schema["$id"], resource)]
    entry = (HUB_SCHEMAS / "plugin_definitions" / "extractors.schema.json").resolve().as_uri()
    return jsonschema.Draft7Validator(
        {"$ref": entry}, registry=Registry().with_resources(resources)
    )


def test_hub_definition_is_valid_and_agrees_with_about():
    definition = yaml.safe_load(plugin_metadata.HUB_FILE.read_text())
    _hub_validator().validate(definition)
    about = _about()
    assert [s["name"] for s in definition["settings"]] == list(about["settings"]["properties"])
    assert {s["name"] for s in definition["settings"] if s.get("sensitive")} == {
        n for n, p in about["settings"]["properties"].items() if p.get("secret")
    }


def test_hub_validator_rejects_what_the_hub_rejects():
    definition = yaml.safe_load(plugin_metadata.HUB_FILE.read_text())
    definition.pop("quality")
    errors = list(_hub_validator().iter_errors(definition))
    assert errors and "quality" in str(errors[0].message)


def test_hub_definition_is_as_the_hub_repository_wants_it():
    definition = yaml.safe_load(plugin_metadata.HUB_FILE.read_text())
    # meltano/hub keeps extractor definitions at _data/meltano/extractors/<name>/<variant>.yml,
    # and its hub-utils names a variant after the repository's owner.
    name, variant = definition["name"], definition["variant"]
    assert plugin_metadata.HUB_FILE.relative_to(ROOT / "hub").as_posix() == (
        f"_data/meltano/extractors/{name}/{variant}.yml"
    )
    owner = definition["repo"].removeprefix("https://github.com/").split("/")[0]
    assert variant == owner.lower()
    # The Hub rates quality from use: a new plugin claims none.
    assert definition["quality"] == "unknown"
    assert definition["maintenance_status"] == "active"
    assert definition["docs"].startswith(definition["repo"])
    # As it will be once published: the package index's name of this very package.
    project = re.search(r'^name = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert project and definition["pip_url"] == project.group(1) == name


def test_the_licence_declared_is_the_one_shipped():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'license = "Apache-2.0"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence


def test_hub_validator_accepts_a_published_definition():
    # A positive control: another TikTok tap's definition that the Hub accepted.
    published = yaml.safe_load((HUB_SCHEMAS / "example-tap-tiktok-gthesheep.yml").read_text())
    assert list(_hub_validator().iter_errors(published)) == []


def test_tests_and_scripts_read_nothing_outside_the_repository():
    # A clone in any folder must pass: no path may climb out of the repository.
    climbing = ("ROOT" + ".parent", "../sha" + "red", '"sha' + 'red"')
    offenders = []
    for folder in ("tests", "scripts", "benchmarks", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ""} and "vendor" not in path.parts:
                text = path.read_text(errors="replace")
                if any(pattern in text for pattern in climbing):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], offenders


def test_readme_first_screen_has_the_two_commands():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:20])
    assert "./scripts/demo" in first_screen and "./scripts/test" in first_screen
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in ci
    assert Path(ROOT / "scripts" / "demo").stat().st_mode & 0o111
