"""The benchmark's database section (bench/database.py): its table, its skip line, and
that the pool waits it reports are counted where they happen."""

import argparse
import shutil
import sys
from pathlib import Path

import psycopg
import pytest

# The bench's modules import one another by plain name, as `python bench/run.py` does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import database as bench_database


def test_without_a_server_the_section_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TEST_POSTGRES_URL", raising=False)
    monkeypatch.setenv("POSTGRES_BINDIR", str(tmp_path / "no-postgresql"))
    bench_database.measure(argparse.Namespace(out=tmp_path))
    assert capsys.readouterr().out.splitlines() == [bench_database.SKIPPED]
    assert "TEST_POSTGRES_URL" in bench_database.SKIPPED
    assert not list(tmp_path.iterdir())  # no stale results-database.md


def test_without_the_variable_the_bench_starts_and_stops_its_own_server(monkeypatch):
    from harness.postgres import find_bindir, unavailable

    monkeypatch.delenv("TEST_POSTGRES_URL", raising=False)
    if find_bindir() is None:
        unavailable("no PostgreSQL binaries (initdb, postgres): the bench skips its section")
    with bench_database.postgres_admin_url() as admin_url, psycopg.connect(admin_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(admin_url, connect_timeout=2)


def test_the_scratch_database_holds_the_table_and_is_dropped(postgres_database_url):
    with (
        bench_database.scratch_database(postgres_database_url) as url,
        psycopg.connect(url) as connection,
    ):
        count, low, high = connection.execute(
            "SELECT count(*), min(id), max(id) FROM bench_item"
        ).fetchone()
        name = connection.info.dbname
    assert (count, low, high) == (bench_database.ROWS, 1, bench_database.ROWS)
    with psycopg.connect(postgres_database_url) as admin:
        left = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert left == []


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk, as make bench does")
def test_pool_waits_are_counted_where_the_pool_runs_out(postgres_database_url, monkeypatch):
    # Two connections per gevent worker for 500 connections: most requests wait. The
    # recipe has no pool, so it reports none.
    monkeypatch.setenv("DB_POOL_SIZE", "2")
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    options = argparse.Namespace(classes=["gevent"], seconds=1, rounds=1)
    with bench_database.scratch_database(postgres_database_url) as url:
        rows, memory = bench_database._measure_servers(url, options, workers=2)
    found = {(row.server, row.connections): row for row in rows}
    recipe = found[(bench_database.RECIPE, 500)]
    service = found[("service, gevent", 500)]
    assert recipe.pool_waits == 0
    assert service.load.requests > 0
    assert service.pool_waits > service.load.requests / 2
    # Every worker reported, and each holds the database stack: more than an interpreter.
    assert [used.workers for used in memory] == [bench_database.RECIPE_WORKERS, 2]
    assert all(used.load_pss > 10 * 1024 for used in memory)
