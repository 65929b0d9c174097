"""A real PostgreSQL for the tests: TEST_POSTGRES_URL's server, or a throwaway one.

A pytest plugin (tests/conftest.py names it), so your tests and the serving tests share
its fixtures:

- `postgres_server` (the session's): the server at TEST_POSTGRES_URL (an admin URL: a
  role that may CREATE DATABASE) when it is set, as CI sets it; otherwise one this
  session starts from the PostgreSQL binaries it finds and stops at its end.
- `postgres_database_url`: a fresh, empty, uniquely named database on it, dropped after
  the test.
- `own_postgres_server`: a throwaway server of the test's own, which the test may stop
  and start (the fault test); never the shared one. `throwaway_server(socket_only=True)`
  makes one that listens on its unix socket alone (the container test mounts it).

The throwaway server: initdb into a temporary folder, listening on 127.0.0.1 at a free
port and on a unix socket in that folder, run as an unprivileged user when the tests run
as root (PostgreSQL refuses root). Without binaries or TEST_POSTGRES_URL the tests that
need a database skip with the reason; REQUIRE_POSTGRES=1 (CI) turns that into a failure.
"""

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from harness.http import free_port, wait_for

# compose.yaml's default image for its postgres service, and the stand-in built from
# Debian's postgresql (postgres_image/) where no registry can be reached: its name says
# it is not the official image.
OFFICIAL_IMAGE = "postgres:17-bookworm"
STANDIN_IMAGE = "local/debian-postgresql:17"
STANDIN_CONTEXT = Path(__file__).with_name("postgres_image")
INSTALL_HINT = (
    "install PostgreSQL's server (apt-get install postgresql, or brew install postgresql) "
    "so the tests start their own, or set TEST_POSTGRES_URL to an admin URL of a running one"
)
# Measured here: initdb and a first start together about 0.5 s, a fast shutdown well
# under a second. Generous: a loaded 2-core CI machine runs other suites meanwhile.
INITDB_SECONDS = 60
START_SECONDS = 30
STOP_SECONDS = 30
# A throwaway server holds nothing worth keeping: a crash loses a test database that
# the next session would not reuse anyway, so durability is traded for speed (no
# flush to disk per commit, which on a shared CI disk costs milliseconds each).
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # The default; stated because the pool tests count against it.
    "max_connections": "100",
}


def unavailable(reason: str):
    """Skip with the reason, or fail under REQUIRE_POSTGRES=1 (CI must run these tests)."""
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def redacted(url: str) -> str:
    """The URL with its password replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def find_bindir() -> Path | None:
    """The folder of PostgreSQL's server binaries: POSTGRES_BINDIR alone when set (one
    version of several; a missing folder shows what a machine without PostgreSQL
    sees), else `pg_config --bindir`, Debian's /usr/lib/postgresql/<version>/bin (the
    newest), then PATH."""
    if chosen := os.environ.get("POSTGRES_BINDIR"):
        return _server_bindir([Path(chosen)])
    candidates = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            answer = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            candidates.append(Path(answer.stdout.strip()))
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(debian, key=lambda path: _version(path.parent.name), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    return _server_bindir(candidates)


def _server_bindir(candidates: list[Path]) -> Path | None:
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "postgres")):
            return bindir
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


class Server:
    """A PostgreSQL server reachable at `admin_url`, where tests create their databases."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url(self, database: str) -> str:
        return urlunsplit(urlsplit(self.admin_url)._replace(path=f"/{quote(database)}"))

    def execute(self, statement) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(statement)

    def create_database(self, template: str | None = None) -> str:
        """A fresh database, empty or a copy of `template` (which nothing may be connected
        to); its name. pytest_ prefixed, so a leftover of a killed run is easy to spot on
        a shared server."""
        from psycopg import sql

        name = f"pytest_{uuid.uuid4().hex[:12]}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self.execute(create)
        return name

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        # FORCE: a gunicorn worker or container the test started may still hold a connection.
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))

        def dropped() -> bool:
            self.execute(drop)
            return True

        # A server busy with other suites may refuse a connection for a moment ("too many
        # clients"): the drop is retried for a few seconds.
        wait_for(dropped, 10, f"database {name} dropped")

    def check(self) -> None:
        """Fail in one line when the server set by TEST_POSTGRES_URL does not answer."""
        try:
            self.execute("SELECT 1")
            return
        except Exception as error:
            problem = str(error).strip()
        pytest.fail(
            f"TEST_POSTGRES_URL={redacted(self.admin_url)} is unreachable: {problem}",
            pytrace=False,
        )


class ThrowawayServer(Server):
    """A server of the tests' own in a temporary folder: data/, socket/ (its unix socket,
    a folder anyone may enter so a container's arbitrary user reaches it) and the log.

    stop() and start() may be called again and again (same port, same data); close()
    stops it and removes the folder.
    """

    def __init__(self, bindir: Path, socket_only: bool = False) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="pytest-postgres-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "socket"
        self.log = self.folder / "postgres.log"
        # Socket only: no TCP listener, so the socket can be .s.PGSQL.5432, the one a URL
        # without a port names (Cloud SQL's form), while another server holds 5432.
        self.socket_only = socket_only
        self.port = 5432 if socket_only else free_port()
        self.password = secrets.token_urlsafe(16)
        self.process: subprocess.Popen | None = None
        self.user = _unprivileged_user()
        if socket_only:
            where = f"/postgres?host={quote(str(self.socket_dir))}"
        else:
            where = f"127.0.0.1:{self.port}/postgres"
        super().__init__(f"postgresql://postgres:{self.password}@{where}")
        self.socket_dir.mkdir()
        # The folder and socket/ are entered by the server's user and by containers.
        self.folder.chmod(0o755)
        self.socket_dir.chmod(0o755)
        if self.user is not None:
            for path in (self.folder, self.socket_dir):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._initdb()

    def _run_as(self) -> dict:
        """Popen's arguments that drop root to the server's user (nothing when not root)."""
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        if self.user is not None:
            os.chown(password_file, self.user.pw_uid, self.user.pw_gid)
        command = [
            str(self.bindir / "initdb"),
            *("--pgdata", str(self.data), "--username", "postgres"),
            *("--pwfile", str(password_file), "--auth", "scram-sha-256"),
            # --no-sync: like fsync=off, nothing here must survive a crash.
            *("--encoding", "UTF8", "--locale", "C", "--no-sync"),
        ]
        try:
            result = subprocess.run(
                command,
                cwd=self.folder,
                env=_server_env(),
                capture_output=True,
                text=True,
                timeout=INITDB_SECONDS,
                **self._run_as(),
            )
        finally:
            password_file.unlink()
        if result.returncode != 0:
            self.close()
            pytest.fail(f"initdb exited {result.returncode}:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        settings = {
            **THROWAWAY_SETTINGS,
            "listen_addresses": "" if self.socket_only else "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        options = [f"--{name}={value}" for name, value in settings.items()]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), *options],
                cwd=self.folder,
                env=_server_env(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                # A group of its own, so stop() reaches the backends too.
                start_new_session=True,
                **self._run_as(),
            )
        wait_for(self._accepting, START_SECONDS, f"PostgreSQL on port {self.port}")

    def _accepting(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"postgres exited {self.process.returncode}:\n{self.log_tail()}")
        import psycopg

        with psycopg.connect(self.admin_url, connect_timeout=2):
            return True

    def stop(self) -> None:
        """A fast shutdown (SIGINT: clients disconnected, the data left consistent); the
        whole group killed if it has not exited in time."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_SECONDS)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def socket_url(self, database: str, host: str) -> str:
        """The URL of `database` through the unix socket, as seen where socket/ is
        mounted at `host` (a container): postgresql://USER:PASS@/DB?host=FOLDER, with
        &port=N unless the server is socket_only (on 5432, which needs no port)."""
        port = "" if self.port == 5432 else f"&port={self.port}"
        return f"postgresql://postgres:{self.password}@/{quote(database)}?host={host}{port}"

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _unprivileged_user():
    """The user the server runs as when the tests run as root: `postgres` (Debian's
    package creates it), else `nobody`. None when not root: the server runs as you."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.fail("running as root, and neither a postgres nor a nobody user exists")


def _server_env() -> dict[str, str]:
    # The C locale: initdb and the server read LC_* and refuse a locale the machine lacks.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}


def start_throwaway(socket_only: bool = False) -> ThrowawayServer:
    bindir = find_bindir()
    if bindir is None:
        where = os.environ.get("POSTGRES_BINDIR") or "pg_config, /usr/lib/postgresql, PATH"
        unavailable(f"no PostgreSQL binaries (initdb, postgres) in {where}: {INSTALL_HINT}")
    server = ThrowawayServer(bindir, socket_only)
    try:
        server.start()
    except BaseException:
        print(f"--- postgres log ---\n{server.log_tail()}")
        server.close()
        raise
    return server


def compose_image(client) -> str:
    """The image for compose.yaml's postgres service: POSTGRES_IMAGE when set, else the
    official image when this engine has it, else the stand-in, built on first use.

    The stand-in is kept afterwards, like the base image PYTHON_IMAGE names: it does
    not depend on the project, and building it takes half a minute (apt-get).
    """
    import docker

    if os.environ.get("POSTGRES_IMAGE"):
        return os.environ["POSTGRES_IMAGE"]
    for image in (OFFICIAL_IMAGE, STANDIN_IMAGE):
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.get(image)
            return image
    base = os.environ.get("PYTHON_IMAGE")
    print(f"building {STANDIN_IMAGE} (Debian's postgresql) on {base or 'its default base'}")
    try:
        client.images.build(
            path=str(STANDIN_CONTEXT),
            tag=STANDIN_IMAGE,
            buildargs={"BASE_IMAGE": base} if base else {},
            rm=True,
            forcerm=True,
        )
    except docker.errors.BuildError as error:
        log = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in error.build_log)
        reason = (
            f"no PostgreSQL image for compose: {OFFICIAL_IMAGE} is absent and the stand-in "
            f"did not build ({error}); set POSTGRES_IMAGE to one this engine has\n{log}"
        )
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return STANDIN_IMAGE


@contextlib.contextmanager
def throwaway_server(socket_only: bool = False):
    """A throwaway server for the block, stopped and removed after it, even on failure."""
    server = start_throwaway(socket_only)
    try:
        yield server
    finally:
        server.close()


def _need_psycopg() -> None:
    try:
        import psycopg  # noqa: F401 (only whether it is installed)
    except ImportError:
        unavailable("psycopg is not installed: the database tests need it (make sync)")


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL: TEST_POSTGRES_URL's, else a throwaway one."""
    _need_psycopg()
    if admin_url := os.environ.get("TEST_POSTGRES_URL"):
        server = Server(admin_url)
        server.check()
        yield server
        return
    with throwaway_server() as server:
        yield server


@pytest.fixture
def postgres_database_url(postgres_server):
    """The URL of a fresh, empty database, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def own_postgres_server():
    """A throwaway server of this test alone, which it may stop and start."""
    _need_psycopg()
    with throwaway_server() as server:
        yield server
