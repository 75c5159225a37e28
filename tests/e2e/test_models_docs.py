"""transform/'s models are documented and tested, and docs/models.md says what their
schema files say (scripts/models_doc.py). Reads files only: no warehouse, no dbt."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import models_doc

# In tests/e2e beside the models' end-to-end tests; it runs once, on the default Python.
pytestmark = pytest.mark.e2e


def test_docs_models_md_is_generated_from_the_schema_files():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "models_doc.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (ROOT / "docs" / "models.md").read_text() == models_doc.render()


def test_every_model_is_described_and_tested():
    described = models_doc.schema_models()
    files = models_doc.model_files()
    assert set(described) == set(files), "each models/**/*.sql has a schema entry, and back"
    for name, model in described.items():
        assert model.get("description", "").strip(), f"{name} has no description"
        columns = model.get("columns", [])
        assert columns, f"{name} lists no columns"
        for column in columns:
            assert column.get("description", "").strip(), f"{name}.{column['name']}: no description"
        tested = model.get("data_tests") or any(c.get("data_tests") for c in columns)
        assert tested, f"{name} has no data test"
        assert models_doc.reads(files[name]), f"{name} reads nothing"


def test_the_check_fails_on_a_stale_page(tmp_path, monkeypatch):
    """The check can fail: a page that differs from the schema files is reported."""
    stale = tmp_path / "models.md"
    stale.write_text(models_doc.render().replace("video_growth", "video_grwth", 1))
    monkeypatch.setattr(models_doc, "DOC", stale)
    monkeypatch.setattr(models_doc, "ROOT", tmp_path)
    assert models_doc.main(["--check"]) == 1
