"""shared_file() and the start check, without Docker: modes, SQLite's journals, umasks.

Two UIDs writing one SQLite file is proven in the image (test_container.py); here,
what makes it work: the modes SQLite and shared_file() give each file.
"""

import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from harness.probe_app import create_probe_app

from {{ cookiecutter.package_name }}.serving import shared_file
from {{ cookiecutter.package_name }}.serving.data_files import unshared_files

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def umask():
    """Sets a umask for the test; the previous one is back afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_in_a_transaction(path: Path, journal: str) -> dict[str, int]:
    """Insert a row under `journal` mode; the modes of the files while they all exist."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(f"PRAGMA journal_mode = {journal}")
        db.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
        db.execute("BEGIN")
        db.execute("INSERT INTO notes VALUES ('x')")
        files = {file.name: mode(file) for file in path.parent.iterdir()}
        db.execute("COMMIT")
    finally:
        db.close()
    return files


def test_sqlite_alone_makes_a_database_no_other_uid_can_write(tmp_path, umask):
    # The reason for shared_file(): SQLite's 0644, whatever the umask (002 here).
    umask(0o002)
    files = write_in_a_transaction(tmp_path / "app.sqlite", "delete")
    assert files == {"app.sqlite": 0o644, "app.sqlite-journal": 0o644}


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("mask", [0o002, 0o022, 0o077])
def test_every_file_of_a_shared_database_is_group_writable(tmp_path, umask, journal, mask):
    umask(mask)
    path = shared_file(tmp_path / "app.sqlite")
    files = write_in_a_transaction(path, journal)
    suffixes = ["-journal"] if journal == "delete" else ["-wal", "-shm"]
    # SQLite gives its journals the database file's mode, under any umask.
    assert files == {f"app.sqlite{suffix}": 0o664 for suffix in ["", *suffixes]}


def test_shared_file_creates_missing_folders_and_returns_the_path(tmp_path, umask):
    umask(0o022)
    path = shared_file(str(tmp_path / "db" / "app.sqlite"))
    assert path == tmp_path / "db" / "app.sqlite"
    assert path.read_bytes() == b""
    assert mode(path) == 0o664


def test_shared_file_makes_an_existing_file_of_its_own_group_writable(tmp_path):
    path = tmp_path / "app.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE notes (body TEXT)").connection.close()
    size = path.stat().st_size
    assert mode(path) == 0o644
    assert shared_file(path) == path
    # Its data untouched, only the mode changed.
    assert (mode(path), path.stat().st_size) == (0o664, size)


def test_a_file_made_by_mkstemp_is_unshared_until_chmodded(tmp_path, umask):
    # The atomic write (mkstemp, then rename) docs/state.md describes.
    import tempfile

    umask(0o002)
    tmp_path.chmod(0o2775)
    descriptor, name = tempfile.mkstemp(dir=tmp_path)
    os.close(descriptor)
    assert unshared_files(tmp_path) == [Path(name)]
    os.chmod(name, 0o664)
    assert unshared_files(tmp_path) == []


def test_unshared_files_names_what_the_group_cannot_write(tmp_path, umask):
    umask(0o002)
    tmp_path.chmod(0o2775)
    shared_file(tmp_path / "shared.sqlite")
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "a.png").write_bytes(b"png")
    sqlite3.connect(tmp_path / "uploads" / "plain.sqlite").close()
    assert unshared_files(tmp_path) == [tmp_path / "uploads" / "plain.sqlite"]


def test_unshared_files_looks_at_a_bounded_number_of_entries(tmp_path):
    tmp_path.chmod(0o2775)
    for index in range(5):
        (tmp_path / f"{index}.txt").touch(mode=0o644)
    assert len(unshared_files(tmp_path, limit=3)) == 3


def test_nothing_is_promised_for_a_private_or_missing_folder(tmp_path):
    tmp_path.chmod(0o700)
    (tmp_path / "private.txt").touch(mode=0o600)
    assert unshared_files(tmp_path) == []
    assert unshared_files(tmp_path / "missing") == []


def test_the_app_warns_at_start_naming_each_unshared_file(tmp_path, monkeypatch, caplog):
    data = tmp_path / "data"
    data.mkdir(mode=0o2775)
    data.chmod(0o2775)
    sqlite3.connect(data / "notes.sqlite").close()
    monkeypatch.setenv("DATA_DIR", str(data))
    with caplog.at_level(logging.WARNING):
        create_probe_app({"TESTING": True})  # what init_app does, in any app
    (warning,) = [r.getMessage() for r in caplog.records if "group" in r.getMessage()]
    assert f"DATA_DIR {data}: notes.sqlite cannot be written" in warning
    assert "shared_file()" in warning
