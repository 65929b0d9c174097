"""A guard on the gunicorn internals that the worker subclasses rely on.

gthread_worker.py, gevent_worker.py and sync_worker.py subclass gunicorn's
ThreadWorker, GeventWorker and SyncWorker and use names gunicorn keeps private;
those moved in 24.0, 25.2, 26.0, 27.0 and 27.0.1. So gunicorn is pinned exactly
(pyproject.toml), Dependabot proposes each new release as a pull request, and on that
pull request this module fails with the subclass and the internal it relies on, before
anything breaks in production:

- the pin must be the release this guard was written for (GUARDED), so an upgrade
  makes someone re-read gunicorn's gthread.py, ggevent.py and sync.py against the
  subclasses;
- each internal the subclasses use must exist, with the signature they expect;
- gunicorn's own worker tests from that release's sdist must pass with the subclasses
  in place of gunicorn's classes, but for the ones listed in DESELECTED.

After reading the new release: fix the subclasses, update this module, set GUARDED.
"""

import ast
import hashlib
import importlib
import inspect
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tarfile
import textwrap
import time
import tomllib
from concurrent import futures
from functools import partial
from importlib import metadata
from pathlib import Path
from unittest import mock

import gevent.server
import pytest
from gunicorn import util
from gunicorn.config import Config
from gunicorn.workers import base, base_async, ggevent, gthread, sync

# The gunicorn release whose internals the subclasses were last checked against.
GUARDED = "27.0.1"
PROJECT = Path(__file__).resolve().parents[2]
SERVING = "{{ cookiecutter.package_name }}.serving"


def relies(subclass: str, internal: str, expected: str) -> str:
    """The failure message: which subclass, which internal, what it expects of it."""
    return (
        f"{subclass} relies on gunicorn's {internal}: {expected}; not so in gunicorn "
        f"{metadata.version('gunicorn')} (this guard was written for {GUARDED})"
    )


def subclass_module(name: str, subclass: str):
    """serving/NAME.py, or an error naming the subclass if an import from gunicorn fails."""
    try:
        return importlib.import_module(f"{SERVING}.{name}")
    except ImportError as error:
        missing = str(error).split(" (")[0]  # "cannot import name 'X' from 'gunicorn.Y'"
        internal = str(error.name).removeprefix("gunicorn.")
        message = relies(subclass, internal, f"the names it imports ({missing})")
        raise ImportError(message) from error


THREAD = "HeaderBufferingThreadWorker"
GEVENT = "DrainingGeventWorker"
gthread_worker = subclass_module("gthread_worker", THREAD)
gevent_worker = subclass_module("gevent_worker", GEVENT)
error_pages = subclass_module("error_pages", "ErrorPages")
sync_worker = subclass_module("sync_worker", "ErrorPagesSyncWorker")
HeaderBufferingThreadWorker = gthread_worker.HeaderBufferingThreadWorker
DrainingGeventWorker = gevent_worker.DrainingGeventWorker


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def names_used(function) -> set[str]:
    """The global and attribute names a function's code refers to."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        node.id if isinstance(node, ast.Name) else node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Name | ast.Attribute)
    }


# The pin


def pinned_gunicorn() -> str:
    dependencies = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    pins = [re.fullmatch(r"gunicorn(\[[\w,]+\])?==(\S+)", d) for d in dependencies]
    found = [pin.group(2) for pin in pins if pin]
    assert len(found) == 1, f"pyproject.toml must pin gunicorn exactly (==), found {dependencies}"
    return found[0]


def test_gunicorn_is_pinned_to_the_guarded_release():
    pinned = pinned_gunicorn()
    assert pinned == GUARDED, (
        f"pyproject.toml pins gunicorn {pinned}, this guard was written for {GUARDED}: read "
        "gunicorn's workers/gthread.py, workers/ggevent.py and workers/sync.py changes "
        "against serving/gthread_worker.py, serving/gevent_worker.py and "
        "serving/sync_worker.py, then update GUARDED"
    )
    for lock in sorted(PROJECT.glob("requirements*.txt")):
        locked = re.search(r"^gunicorn==(\S+)", lock.read_text(), re.MULTILINE)
        if locked:
            assert locked.group(1) == pinned, f"{lock.name} locks gunicorn {locked.group(1)}"
    assert metadata.version("gunicorn") == pinned, "the environment is not the lock: make lock"


# What HeaderBufferingThreadWorker relies on


# (subclass, gunicorn class, method, parameters): every method the subclasses override.
OVERRIDES = [
    (HeaderBufferingThreadWorker, gthread.ThreadWorker, "accept", ["self", "listener"]),
    (
        HeaderBufferingThreadWorker,
        gthread.ThreadWorker,
        "on_client_socket_readable",
        ["self", "conn", "client"],
    ),
    (HeaderBufferingThreadWorker, gthread.ThreadWorker, "handle", ["self", "conn"]),
    (HeaderBufferingThreadWorker, gthread.ThreadWorker, "murder_pending", ["self"]),
    (HeaderBufferingThreadWorker, gthread.ThreadWorker, "murder_keepalived", ["self", "force"]),
    (HeaderBufferingThreadWorker, gthread.ThreadWorker, "set_accept_enabled", ["self", "enabled"]),
    (
        HeaderBufferingThreadWorker,
        gthread.ThreadWorker,
        "wait_for_and_dispatch_events",
        ["self", "timeout"],
    ),
    # Its quick stop is the base Worker's, without ThreadWorker's pool shutdown.
    (HeaderBufferingThreadWorker, gthread.ThreadWorker, "handle_quit", ["self", "sig", "frame"]),
    (HeaderBufferingThreadWorker, base.Worker, "handle_quit", ["self", "sig", "frame"]),
    (gthread_worker._BufferingConn, gthread.TConn, "close", ["self", "graceful"]),
    (DrainingGeventWorker, ggevent.GeventWorker, "run", ["self"]),
    (DrainingGeventWorker, ggevent.GeventWorker, "handle_abort", ["self", "sig", "frame"]),
    (DrainingGeventWorker, ggevent.GeventWorker, "handle_exit", ["self", "sig", "frame"]),
    (
        DrainingGeventWorker,
        ggevent.GeventWorker,
        "handle",
        ["self", "listener", "client", "addr"],
    ),
    (
        DrainingGeventWorker,
        ggevent.GeventWorker,
        "handle_request",
        ["self", "listener_name", "req", "sock", "addr"],
    ),
]

# The sync worker's loop for several listening sockets (sync_worker.py).
OVERRIDES += [
    (sync_worker.ErrorPagesSyncWorker, sync.SyncWorker, "run_for_multiple", ["self", "timeout"]),
]

# The mixin every worker class takes first (error_pages.py), on gunicorn's base Worker.
OVERRIDES += [
    (error_pages.ErrorPages, base.Worker, "init_process", ["self"]),
    (error_pages.ErrorPages, base.Worker, "handle_error", ["self", "req", "client", "addr", "exc"]),
]


@pytest.mark.parametrize(
    ("subclass", "gunicorns", "method", "expected"),
    OVERRIDES,
    ids=[f"{sub.__name__}.{method}" for sub, _, method, _ in OVERRIDES],
)
def test_overridden_methods_keep_their_signature(subclass, gunicorns, method, expected):
    internal = f"{gunicorns.__module__.rpartition('.')[2]}.{gunicorns.__name__}.{method}"
    assert callable(getattr(gunicorns, method, None)), relies(
        subclass.__name__, internal, "a method it overrides and calls back with super()"
    )
    assert parameters(getattr(gunicorns, method)) == expected, relies(
        subclass.__name__, internal, f"parameters {expected}"
    )
    assert parameters(getattr(subclass, method)) == expected


@pytest.mark.parametrize(
    ("subclass", "gunicorns"),
    [
        (HeaderBufferingThreadWorker, gthread.ThreadWorker),
        (gthread_worker._BufferingConn, gthread.TConn),
        (DrainingGeventWorker, ggevent.GeventWorker),
        (sync_worker.ErrorPagesSyncWorker, sync.SyncWorker),
    ],
)
def test_every_override_is_guarded(subclass, gunicorns):
    """A method newly overridden, or newly shadowing one of gunicorn's, joins OVERRIDES."""
    overridden = {
        name
        for name, value in vars(subclass).items()
        if callable(value) and not name.startswith("__") and hasattr(gunicorns, name)
    }
    guarded = {method for sub, _, method, _ in OVERRIDES if sub is subclass}
    assert overridden == guarded, (
        f"{subclass.__name__} overrides {sorted(overridden - guarded)} of "
        f"{gunicorns.__name__} unguarded, or no longer overrides {sorted(guarded - overridden)}"
    )


def test_thread_worker_module_names():
    assert issubclass(HeaderBufferingThreadWorker, gthread.ThreadWorker)
    assert parameters(gthread.TConn) == ["cfg", "sock", "client", "server"], relies(
        THREAD, "gthread.TConn", "TConn(cfg, sock, client, server), as accept() builds it"
    )
    linger = getattr(gthread, "STOP_KEEPALIVE_LINGER", None)
    assert isinstance(linger, int | float) and linger > 0, relies(
        THREAD, "gthread.STOP_KEEPALIVE_LINGER", "the seconds a stopping worker lingers"
    )


def test_error_pages_replace_gunicorns_page_writer():
    mixin = "ErrorPages"
    assert parameters(util.write_error) == ["sock", "status_int", "reason", "mesg"], relies(
        mixin, "util.write_error", "write_error(sock, status_int, reason, mesg)"
    )
    assert parameters(error_pages.write_error) == parameters(util.write_error)
    assert "write_error" in names_used(base.Worker.handle_error), relies(
        mixin, "base.Worker.handle_error", "the page written through util.write_error"
    )
    assert parameters(util.write_nonblock)[:2] == ["sock", "data"], relies(
        mixin, "util.write_nonblock", "write_nonblock(sock, data)"
    )
    for worker_class in (
        HeaderBufferingThreadWorker,
        DrainingGeventWorker,
        sync_worker.ErrorPagesSyncWorker,
    ):
        assert worker_class.__mro__[1] is error_pages.ErrorPages, worker_class


def test_lingering_close_is_gunicorns_own():
    both = f"{THREAD} and {GEVENT}"
    assert parameters(util.close) == ["sock"], relies(both, "util.close", "close(sock)")
    linger = inspect.signature(util.close_graceful).parameters
    assert list(linger) == ["sock", "timeout", "max_drain"], relies(
        both, "util.close_graceful", "close_graceful(sock, timeout, max_drain)"
    )
    copied = (gthread_worker.LINGER_TIMEOUT, gthread_worker.MAX_LINGER_BYTES)
    assert (linger["timeout"].default, linger["max_drain"].default) == copied, relies(
        THREAD, "util.close_graceful", f"the defaults its loop's linger copies, {copied}"
    )


@pytest.fixture
def thread_worker():
    worker = HeaderBufferingThreadWorker(
        age=1, ppid=os.getpid(), sockets=[], app=None, timeout=30, cfg=Config(), log=mock.Mock()
    )
    worker.poller = selectors.DefaultSelector()
    yield worker
    worker.poller.close()
    worker.tmp.close()


@pytest.fixture
def socket_pair():
    pair = socket.socketpair()
    yield pair
    for end in pair:
        end.close()


def test_thread_worker_state(thread_worker):
    for name, kind in (("nr_conns", int), ("alive", bool)):
        assert isinstance(getattr(thread_worker, name, None), kind), relies(
            THREAD, f"ThreadWorker.{name}", f"{kind.__name__} set by __init__"
        )
    for method in ("append", "remove", "popleft"):
        assert hasattr(getattr(thread_worker, "keepalived_conns", None), method), relies(
            THREAD, "ThreadWorker.keepalived_conns", "a deque of kept-alive connections"
        )
    assert "poller" in names_used(gthread.ThreadWorker.init_process), relies(
        THREAD, "ThreadWorker.poller", "the selector init_process() makes, which it registers on"
    )


def test_the_loop_calls_accept_with_the_listener(thread_worker):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread_worker.sockets = [listener]
        thread_worker.set_accept_enabled(True)
        assert thread_worker.poller.get_key(listener).data == thread_worker.accept, relies(
            THREAD, "ThreadWorker.set_accept_enabled", "listeners registered with self.accept"
        )
        with socket.create_connection(listener.getsockname()) as client:
            client.sendall(b"GET / HTTP/1.1\r\n")  # incomplete: the connection buffers
            thread_worker.wait_for_and_dispatch_events(timeout=5)
            assert thread_worker.nr_conns == 1, relies(
                THREAD, "ThreadWorker.wait_for_and_dispatch_events", "key.data(key.fileobj)"
            )
            for conn in list(thread_worker._buffering):
                thread_worker._drop(conn)


def test_enqueue_req_runs_handle_in_the_pool(thread_worker):
    pool = mock.Mock()
    pool.submit.return_value = futures.Future()
    thread_worker.tpool = pool
    conn = object()
    thread_worker.enqueue_req(conn)
    assert pool.submit.call_args.args == (thread_worker.handle, conn), relies(
        THREAD, "ThreadWorker.enqueue_req", "tpool.submit(self.handle, conn)"
    )


def test_a_kept_alive_connection_comes_back_through_on_client_socket_readable(
    thread_worker, socket_pair
):
    conn = gthread.TConn(thread_worker.cfg, socket_pair[0], ("127.0.0.1", 1), ("127.0.0.1", 2))
    conn.init()
    done = futures.Future()
    done.set_result(True)  # handle() answered and keeps the connection alive
    thread_worker.finish_request(conn, done)
    callback = thread_worker.poller.get_key(conn.sock).data
    expected = "partial(self.on_client_socket_readable, conn) registered for the socket"
    assert isinstance(callback, partial), relies(THREAD, "ThreadWorker.finish_request", expected)
    assert callback.func == thread_worker.on_client_socket_readable, relies(
        THREAD, "ThreadWorker.finish_request", expected
    )
    assert callback.args == (conn,) and conn in thread_worker.keepalived_conns


def test_a_closed_connection_is_counted_out_then_closed_gracefully(thread_worker):
    counted = []

    def close(graceful=False):
        counted.append((thread_worker.nr_conns, graceful))

    conn = mock.Mock()
    conn.close.side_effect = close
    thread_worker.nr_conns = 1
    done = futures.Future()
    done.set_result(False)  # handle() is done with the connection
    thread_worker.finish_request(conn, done)
    assert counted == [(0, True)], relies(
        THREAD,
        "ThreadWorker.finish_request",
        "nr_conns -= 1, then conn.close(graceful=True) on the loop's thread",
    )


def test_handed_back_header_bytes_are_what_the_parser_reads(socket_pair):
    conn = gthread.TConn(Config(), socket_pair[0], ("127.0.0.1", 1), ("127.0.0.1", 2))
    conn.init()
    parser = conn.parser
    conn.init()  # handle() calls it again after the subclass did
    assert conn.parser is parser and conn.initialized, relies(
        THREAD, "gthread.TConn.init", "idempotent: a second call keeps the parser"
    )
    conn.parser.unreader.unread(b"GET /handed-back HTTP/1.1\r\nHost: a\r\n\r\n")
    assert next(conn.parser).path == "/handed-back", relies(
        THREAD, "TConn.parser.unreader.unread", "bytes given back are parsed first"
    )
    source = inspect.getsource(gthread.ThreadWorker.handle)
    assert "not conn.initialized and not conn.data_ready" in source, relies(
        THREAD, "ThreadWorker.handle", "no wait for data on an initialized connection"
    )


def test_the_loop_expires_connections_on_every_turn():
    for method in ("murder_pending", "murder_keepalived"):
        assert method in names_used(gthread.ThreadWorker.run), relies(
            THREAD, f"ThreadWorker.run calling self.{method}()", "a call on every turn"
        )


# What DrainingGeventWorker relies on


def test_gevent_worker_builds_its_servers_from_the_module_global():
    assert issubclass(DrainingGeventWorker, ggevent.GeventWorker)
    assert ggevent.StreamServer is gevent.server.StreamServer, relies(
        GEVENT, "ggevent.StreamServer", "gevent's StreamServer, a module global it replaces"
    )
    used = names_used(ggevent.GeventWorker.run)
    for name, expected in (
        ("StreamServer", "run() builds each server from the module global"),
        ("max_accept", "run() sets server.max_accept = 1 (the subclass ignores it)"),
        ("alive", "run() serves while self.alive"),
    ):
        assert name in used, relies(GEVENT, "GeventWorker.run", expected)
    assert isinstance(gevent.server.StreamServer.max_accept, int)
    assert issubclass(gevent_worker._GreedyStreamServer, gevent.server.StreamServer)


def test_the_sync_loop_for_several_sockets_uses_what_it_did():
    subclass = "ErrorPagesSyncWorker"
    assert "run_for_multiple" in names_used(sync.SyncWorker.run), relies(
        subclass, "SyncWorker.run", "runs run_for_multiple(timeout) with more than one socket"
    )
    assert "setblocking" in names_used(sync.SyncWorker.run), relies(
        subclass, "SyncWorker.run", "makes the listeners non-blocking: accept() says EAGAIN"
    )
    assert parameters(sync.SyncWorker.wait) == ["self", "timeout"], relies(
        subclass, "SyncWorker.wait", "wait(timeout): select()'s ready sockets, or None"
    )
    assert {"select", "StopWaiting"} <= names_used(sync.SyncWorker.wait), relies(
        subclass, "SyncWorker.wait", "selects, and raises StopWaiting when it must stop"
    )
    assert parameters(sync.SyncWorker.accept) == ["self", "listener"], relies(
        subclass, "SyncWorker.accept", "accept(listener) serves one connection"
    )
    assert parameters(sync.SyncWorker.is_parent_alive) == ["self"], relies(
        subclass, "SyncWorker.is_parent_alive", "is_parent_alive(): False once orphaned"
    )


def test_gevent_worker_signals_come_from_the_base_worker():
    assert "init_signals" in names_used(base.Worker.init_process), relies(
        GEVENT, "Worker.init_process", "installs the worker's signal handlers (init_signals)"
    )
    used = names_used(base.Worker.init_signals)
    for handler in ("handle_exit", "handle_abort"):
        assert handler in used, relies(GEVENT, "Worker.init_signals", f"installs self.{handler}")


def test_stop_iteration_from_handle_request_closes_the_connection():
    used = names_used(base_async.AsyncWorker.handle)
    assert {"handle_request", "StopIteration"} <= used, relies(
        GEVENT,
        "AsyncWorker.handle",
        "its keep-alive loop calls handle_request and closes on StopIteration",
    )


def test_what_the_stop_relies_on():
    """A stopping worker takes its own listening socket's queue, then closes it."""
    run = inspect.getsource(gthread.ThreadWorker.run)
    assert -1 < run.find("while self.alive:") < run.find("self.set_accept_enabled(False)"), relies(
        THREAD, "ThreadWorker.run", "calls set_accept_enabled(False) once it stops"
    )
    assert "getsockname" in inspect.getsource(base_async.AsyncWorker.handle), relies(
        GEVENT, "AsyncWorker.handle", "asks the listener its address (_NamedListener)"
    )
    for method, expected in (("start", ["self"]), ("close", ["self"]), ("do_read", ["self"])):
        assert parameters(getattr(gevent.server.StreamServer, method)) == expected, relies(
            GEVENT, f"gevent StreamServer.{method}", f"parameters {expected}"
        )
    used = names_used(ggevent.GeventWorker.run)
    assert "close" in used, relies(GEVENT, "GeventWorker.run", "closes each server once stopping")


def test_what_the_reload_relies_on():
    """reloads.py: gunicorn's reload forks the new workers, then manage_workers() stops
    the old ones; a worker's first heartbeat writes time.monotonic() into its file."""
    from gunicorn import arbiter
    from gunicorn.workers import workertmp

    reload = inspect.getsource(arbiter.Arbiter.reload)
    assert -1 < reload.find("self.spawn_worker()") < reload.find("self.manage_workers()"), relies(
        "reloads.py", "Arbiter.reload", "forks the new workers, then calls manage_workers()"
    )
    assert "worker_age" in names_used(arbiter.Arbiter.reload), relies(
        "reloads.py", "Arbiter.reload", "ages the workers it forks (worker_age)"
    )
    assert "handle_hup" in dir(arbiter.Arbiter) and "reload" in names_used(
        arbiter.Arbiter.handle_hup
    ), relies("reloads.py", "Arbiter.handle_hup", "calls self.reload()")
    assert "monotonic" in names_used(workertmp.WorkerTmp.notify), relies(
        "reloads.py", "WorkerTmp.notify", "writes time.monotonic() as the file's times"
    )
    assert "notify" in names_used(gthread.ThreadWorker.run), relies(
        "reloads.py", "ThreadWorker.run", "sends a heartbeat once it serves"
    )


def test_arbiter_internals_the_exit_reasons_rely_on():
    """worker_exits.py notes each status os.waitpid returns while reap_workers runs,
    and the pids kill_worker signals; child_exit comes after the reap, in the main loop."""
    from gunicorn import arbiter

    exits = "worker_exits.py"
    reap = inspect.getsource(arbiter.Arbiter.reap_workers)
    assert "os.waitpid(-1, os.WNOHANG)" in reap, relies(exits, "reap_workers", "os.waitpid")
    assert reap.find("os.waitpid") < reap.find("self.cfg.child_exit(self, worker)"), relies(
        exits, "reap_workers", "reaps, then calls child_exit"
    )
    assert "os.kill(pid, sig)" in inspect.getsource(arbiter.Arbiter.kill_worker), relies(
        exits, "Arbiter.kill_worker", "sends the signal"
    )
    assert "kill_worker" in names_used(arbiter.Arbiter.kill_workers), relies(
        exits, "Arbiter.kill_workers", "signals through kill_worker"
    )
    # SIGCHLD is queued by its handler and reaped in the main loop, never in the handler.
    assert "reap_workers" not in names_used(arbiter.Arbiter.signal_chld), relies(
        exits, "Arbiter.signal_chld", "only queues the signal"
    )


def test_gunicorn_settings_the_subclasses_read():
    cfg = Config()
    assert isinstance(cfg.reuse_port, bool), relies(GEVENT, "Config.reuse_port", "a bool")
    assert callable(cfg.worker_abort), relies(GEVENT, "Config.worker_abort", "the hook")


def test_arbiter_internals_the_config_hooks_rely_on():
    """server_hooks.py's hooks (refusals, failed boots, the fork window), bound by
    gunicorn_config.py, and the line logging_setup.GunicornLogger drops."""
    from gunicorn import arbiter, errors

    config_hooks = "server_hooks.py"
    assert hasattr(errors, "HaltServer"), relies(config_hooks, "errors.HaltServer", "exists")
    for name in ("reap_workers", "stop", "spawn_worker", "setup"):
        assert callable(getattr(arbiter.Arbiter, name, None)), relies(
            config_hooks, f"Arbiter.{name}", "a method"
        )
    # Setting num_workers (which setup() does first) calls the nworkers_changed hook.
    assert "nworkers_changed" in names_used(arbiter.Arbiter._set_num_workers), relies(
        config_hooks, "Arbiter.num_workers", "its setter calls cfg.nworkers_changed"
    )
    assert "num_workers" in names_used(arbiter.Arbiter.setup), relies(
        config_hooks, "Arbiter.setup", "sets num_workers from the configuration"
    )
    # nworkers_changed reads the worker class gunicorn loaded (refusals.unservable).
    setup = inspect.getsource(arbiter.Arbiter.setup)
    assert -1 < setup.find("self.worker_class =") < setup.find("self.num_workers ="), relies(
        config_hooks, "Arbiter.setup", "loads worker_class before it sets num_workers"
    )
    # With a socket per worker, this line has no address: GunicornLogger drops it.
    from {{ cookiecutter.package_name }}.serving.logging_setup import _GUNICORN_LISTENING

    logged = f'self.log.info("{_GUNICORN_LISTENING}", listeners_str, self.pid)'
    assert logged in inspect.getsource(arbiter.Arbiter.start), relies(
        "logging_setup.py", "Arbiter.start", f"logs {_GUNICORN_LISTENING!r}"
    )
    assert "SIG_QUEUE" in names_used(arbiter.Arbiter.signal), relies(
        config_hooks, "Arbiter.signal", "queues signals in SIG_QUEUE"
    )
    assert hasattr(arbiter.Arbiter, "LISTENERS"), relies(config_hooks, "Arbiter.LISTENERS", "set")
    # The stop signals are blocked across os.fork's at-fork callbacks.
    assert "fork" in names_used(arbiter.Arbiter.spawn_worker), relies(
        config_hooks, "Arbiter.spawn_worker", "forks with os.fork"
    )
    used = names_used(base.Worker.init_signals)
    for handler in ("handle_exit", "handle_quit"):
        assert handler in used, relies(
            config_hooks, "Worker.init_signals", f"installs self.{handler}"
        )
    assert "booted" in names_used(base.Worker.init_process), relies(
        config_hooks, "Worker.init_process", "sets self.booted once the app is loaded"
    )


# gunicorn's own worker tests, with the subclasses in their place

SUITE = [
    "tests/test_gthread.py",
    "tests/test_gthread_keepalive_shutdown.py",
    "tests/workers/test_ggevent.py",
]
# What those files need beside them.
SUPPORT = ["tests/conftest.py", "tests/workers/__init__.py"]
# Tests of what the subclasses replace on purpose, by node id, and why.
DESELECTED = {
    # A connection accepted on a mock listener, whose fake socket has no bytes: the
    # subclass reads the headers in the loop first, sees end of file and drops the
    # connection instead of handing it to a thread at once.
    "tests/test_gthread.py::TestAccept::test_accept_success": "accept() buffers headers",
    "tests/test_gthread.py::TestGracefulShutdown::test_connection_tracking": (
        "accept() buffers headers"
    ),
    # A stopping worker ends its expired kept-alive connections with a lingering close
    # (shutdown, then read until the peer's FIN), which the test's FakeSocket lacks.
    "tests/test_gthread.py::TestSignalHandling::test_graceful_shutdown_ignore_idle_keepalived": (
        "a stopping worker's idle kept-alive connections get a lingering close"
    ),
    # The quick stop no longer shuts the thread pool down from the signal handler: that
    # took the pool's lock, and deadlocked when the signal landed inside submit()
    # (HeaderBufferingThreadWorker.handle_quit); each asserts that it does.
    **dict.fromkeys(
        [
            "tests/test_gthread.py::TestSignalHandling::test_handle_quit_sigquit_immediate_shutdown",
            "tests/test_gthread.py::TestSignalInteraction::test_sigterm_then_sigquit",
            "tests/test_gthread.py::TestSignalInteraction::test_sigquit_does_not_wait_for_threads",
        ],
        "the quick stop leaves the thread pool to the interpreter's exit",
    ),
    # Each calls a method of the class under test with GeventWorker.__bases__[0]
    # mocked: with the subclass in place that base is gunicorn's GeventWorker itself,
    # so the code under test is the mock.
    "tests/workers/test_ggevent.py::TestGeventWorkerInit::test_init_process_patches_and_reinits": (
        "init_process() through a mocked base class"
    ),
    "tests/workers/test_ggevent.py::TestSignalHandling::test_notify_exits_on_parent_change": (
        "notify() through a mocked base class"
    ),
    # A Mock worker's cfg.reuse_port is truthy, so the subclass's run() puts its own
    # StreamServer in place of the test's mock of it.
    "tests/workers/test_ggevent.py::TestGeventWorkerRun::test_run_creates_stream_servers": (
        "run() installs its StreamServer with reuse_port"
    ),
    "tests/workers/test_ggevent.py::TestGeventWorkerRun::test_run_with_ssl": (
        "run() installs its StreamServer with reuse_port"
    ),
}
# All of the three files' other tests, as of GUARDED: none may be skipped or lost.
EXPECTED_PASSED = 90


def locked_hashes() -> set[str]:
    lock = (PROJECT / "requirements-dev.txt").read_text()
    block = re.search(rf"^gunicorn=={re.escape(GUARDED)}((?: \\\n\s+--hash=\S+)+)", lock, re.M)
    assert block, f"requirements-dev.txt has no hashes for gunicorn=={GUARDED}"
    return set(re.findall(r"--hash=sha256:([0-9a-f]{64})", block.group(1)))


# The index's JSON listing (PEP 691), which PyPI and mirrors serve alike; the download
# is trusted for its hash in requirements-dev.txt, not for where it came from.
SIMPLE_INDEX = "https://pypi.org/simple"


def gunicorn_sdist(folder: Path) -> Path:
    """gunicorn's sdist for GUARDED, downloaded once into `folder`, checked against the lock.

    Fetched with requests (a dev dependency), not pip: the project's venv has no pip.
    """
    import requests

    name = f"gunicorn-{GUARDED}.tar.gz"
    if not (folder / name).exists():
        index = os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL")
        listing_url = f"{(index or SIMPLE_INDEX).rstrip('/')}/gunicorn/"
        try:
            listing = requests.get(
                listing_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=60
            )
            listing.raise_for_status()
            url = next(f["url"] for f in listing.json()["files"] if f["filename"] == name)
            sdist = requests.get(url, timeout=300)
            sdist.raise_for_status()
        except (requests.RequestException, ValueError, KeyError, StopIteration) as error:
            reason = f"cannot download gunicorn's sdist from {listing_url}: {error!r}"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
        (folder / name).write_bytes(sdist.content)
    digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert digest in locked_hashes(), f"{name} is not the sdist requirements-dev.txt locks"
    return folder / name


def unpack(sdist: Path, into: Path) -> Path:
    root = f"gunicorn-{GUARDED}"
    # Each named file's bytes, written where this names: no extraction filter to
    # depend on (Python 3.11.4 added them; Debian 12's 3.11.2 has none).
    with tarfile.open(sdist) as archive:
        for path in SUITE + SUPPORT:
            target = into / root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extractfile(f"{root}/{path}").read())
    # Its own pytest configuration, not gunicorn's (coverage) nor this project's.
    (into / root / "pytest.ini").write_text("[pytest]\n")
    return into / root


@pytest.fixture(scope="session")
def sdist_folder(request, tmp_path_factory) -> Path:
    # pytest's cache keeps the download between runs; without it, once per session.
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("gunicorn-sdist") if cache else tmp_path_factory.mktemp("sdist")


@pytest.mark.slow
def test_gunicorns_worker_tests_pass_with_the_subclasses(sdist_folder, tmp_path):
    started = time.monotonic()
    suite = unpack(gunicorn_sdist(sdist_folder), tmp_path)
    downloaded = time.monotonic()
    report = tmp_path / "report.json"
    deselect = [arg for node in DESELECTED for arg in ("--deselect", node)]
    plugins = ["-p", "no:cacheprovider", "-p", "harness.gunicorn_suite"]
    result = subprocess.run(
        # -P: gunicorn from the environment, not from the current folder.
        [sys.executable, "-P", "-m", "pytest", "-q", *plugins, *SUITE, *deselect],
        cwd=suite,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT / "tests/serving")]),
            "GUNICORN_SUITE_REPORT": str(report),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert report.exists(), f"gunicorn's tests did not run:\n{output}"
    ran = json.loads(report.read_text())
    outcomes = ran["outcomes"]
    passed = sorted(node for node, outcome in outcomes.items() if outcome == "passed")
    others = {node: outcome for node, outcome in outcomes.items() if outcome != "passed"}
    print(
        f"\ngunicorn {GUARDED}'s worker tests with the subclasses: {len(passed)} passed, "
        f"{len(others)} not, {len(ran.get('deselected', []))} deselected; "
        f"sdist {downloaded - started:.1f}s, run {time.monotonic() - downloaded:.1f}s"
    )
    assert not others, f"gunicorn's own tests fail with the subclasses: {others}\n{output}"
    assert sorted(ran["deselected"]) == sorted(DESELECTED), (
        f"DESELECTED names tests gunicorn {GUARDED} no longer has: "
        f"{sorted(set(DESELECTED) - set(ran['deselected']))}"
    )
    assert len(passed) == EXPECTED_PASSED, output
    assert result.returncode == 0, output
    # test_gthread_keepalive_shutdown.py started gunicorn with the subclass, twice.
    assert len(ran["commands"]) == 2, ran["commands"]
    assert all(HeaderBufferingThreadWorker.__name__ in " ".join(c) for c in ran["commands"])
