"""Files in the data location that every UID in its group can write.

The promise of DATA_DIR: whatever UID a platform runs (a release step as one, the
service as another, an arbitrary one on OpenShift), all of them in group 0, each
can update what another wrote. The start command's umask (002) keeps it for what
open(), os.makedirs, shelve and werkzeug's FileStorage.save create. Two common
writers break it, whatever the umask:

- SQLite creates a database file rw-r--r-- (its SQLITE_DEFAULT_FILE_PERMISSIONS,
  0644): another UID gets "attempt to write a readonly database". Its journals
  (-journal, -wal, -shm) take the database file's mode, so a database file that
  exists, group-writable, before the first connection keeps all of them shared.
  `shared_file(path)` makes it so: `sqlite3.connect(shared_file(path))`.
- tempfile.mkstemp and NamedTemporaryFile create rw------- (0600), and an atomic
  write renames that file into place: chmod it to 0o664 before the rename.

`unshared_files(folder)` lists what breaks the promise; init_app logs it at start.
Standard library only: the app's own modules import it through `serving`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# rw-rw-r--: the owner and the group write, others read, as the umask 002 gives.
SHARED_MODE = 0o664
GROUP_WRITE = stat.S_IWGRP
# Entries the start check looks at, at most: it runs as each worker boots, and a
# data folder of uploads may hold many files (a thousand stats take milliseconds).
CHECK_LIMIT = 1000


def shared_file(path: str | os.PathLike[str]) -> Path:
    """`path`, created empty first if missing, writable by its folder's group.

    Creating is atomic (O_EXCL), so two processes starting at once both get the
    file. The mode is set after creating, so it holds under any umask (tests, the
    `flask` command). A file that exists and belongs to this UID gets group write
    added (a database made before you used shared_file); another UID's file is left
    as it is (only its owner may change its mode: unshared_files names it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SHARED_MODE))
    except FileExistsError:
        status = path.stat()
        mine = os.name == "posix" and status.st_uid == os.getuid()  # no UIDs on Windows
        if mine and not status.st_mode & GROUP_WRITE:
            path.chmod(stat.S_IMODE(status.st_mode) | GROUP_WRITE)
        return path
    path.chmod(SHARED_MODE)
    return path


def unshared_files(folder: Path, limit: int = CHECK_LIMIT) -> list[Path]:
    """Files and folders under `folder` that another UID in its group cannot write.

    Empty when the folder itself is not group-writable (then nothing is promised),
    or missing. Looks at `limit` entries at most.
    """
    try:
        group = folder.stat().st_gid
        if not folder.stat().st_mode & GROUP_WRITE:
            return []
    except OSError:
        return []
    found, seen = [], 0
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            seen += 1
            if seen > limit:
                return found
            path = Path(parent, name)
            try:
                status = path.lstat()
            except OSError:  # gone since the walk listed it
                continue
            if stat.S_ISLNK(status.st_mode):
                continue
            if status.st_gid != group or not status.st_mode & GROUP_WRITE:
                found.append(path)
    return found
