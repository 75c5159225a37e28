"""The tests' PostgreSQL: the system's where it exists, else the one from the package index."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psycopg2
import pytest

from tests import postgres_server

# Run once, on the default Python, not on each Python of the matrix (noxfile.py):
# the tests' own PostgreSQL server (tests/postgres_server.py), not the tap.
pytestmark = pytest.mark.python_independent


def _round_trip(connection: dict) -> str:
    with contextlib.closing(psycopg2.connect(**connection)) as db, db.cursor() as cursor:
        cursor.execute("create table t (id text primary key, n bigint)")
        cursor.execute("insert into t values ('a', 9007199254740993)")
        cursor.execute("select n from t where id = 'a'")
        assert cursor.fetchone() == (9007199254740993,)
        cursor.execute("show server_version")
        return str(cursor.fetchone()[0])


def test_the_server_from_the_package_index_serves_on_loopback(capsys):
    # CI's machines have no system PostgreSQL: this is the server their e2e tests use.
    with postgres_server.running(postgres_server.PACKAGE) as server:
        assert server.binaries.source == postgres_server.PACKAGE
        assert server.connection["host"] == "127.0.0.1"
        version = _round_trip(server.connection)
        assert version.startswith("18.")
        with capsys.disabled():
            print(f"\nembedded-postgres {version} started in {server.start_seconds:.2f} s")
    with pytest.raises(psycopg2.OperationalError):  # stopped, and its files gone
        psycopg2.connect(**server.connection, connect_timeout=2)
    assert not server.folder.exists()


def test_the_system_server_is_preferred_where_it_exists(monkeypatch, tmp_path):
    system = tmp_path / "usr" / "lib" / "postgresql" / "17" / "bin"
    monkeypatch.setattr(postgres_server, "system_binaries", lambda: system)
    assert postgres_server.choose() == postgres_server.Binaries(system, "system")
    forced = postgres_server.choose(postgres_server.PACKAGE)
    assert forced.source == "package" and (forced.bin_dir / "pg_ctl").exists()
    monkeypatch.setattr(postgres_server, "system_binaries", lambda: None)
    assert postgres_server.choose().source == "package"
    with pytest.raises(RuntimeError, match="no PostgreSQL is installed on this system"):
        postgres_server.choose(postgres_server.SYSTEM)
    monkeypatch.setattr(postgres_server, "package_binaries", lambda: None)
    with pytest.raises(RuntimeError, match="install the test dependencies"):
        postgres_server.choose()
    with pytest.raises(ValueError, match="TAP_TESTS_POSTGRES must be"):
        postgres_server.choose("docker")


def test_debian_versions_are_ordered_as_numbers(monkeypatch):
    monkeypatch.setattr(
        postgres_server.glob,
        "glob",
        lambda _: ["/usr/lib/postgresql/9/bin", "/usr/lib/postgresql/15/bin"],
    )
    assert postgres_server.system_binaries() == Path("/usr/lib/postgresql/15/bin")
