"""The access line: written straight to stdout where logging would do nothing else with
its record, the same bytes as that record's line; a logging record wherever anything
else could see it (logging_setup.GunicornLogger._write_directly).
"""

import io
import json
import logging
import re
from contextlib import contextmanager, redirect_stdout
from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.serving.logging_setup import (
    GunicornLogger,
    SpanIds,
    configure_logging,
    request_id_var,
)
from {{ cookiecutter.package_name }}.serving.slow_requests import ROUTE_KEY

ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/health",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "service.request_id": "req-12345678",
}
RESPONSE = SimpleNamespace(status="200 OK", sent=42)
TIME = re.compile(r'^\{"time": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ')


@pytest.fixture(scope="module")
def logger():
    from gunicorn.config import Config

    config = Config()
    config.set("accesslog", "-")
    return GunicornLogger(config)


@contextmanager
def counting_records():
    """The records logging makes meanwhile: none where a line is written directly."""
    # Counted where the record is built: a patched Logger.makeRecord turns the direct
    # write off, as ddtrace's log injection patches it.
    made = []
    init = logging.LogRecord.__init__

    def counted(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    logging.LogRecord.__init__ = counted
    try:
        yield made
    finally:
        logging.LogRecord.__init__ = init


@pytest.fixture
def records():
    with counting_records() as made:
        yield made


@contextmanager
def as_configured():
    """Logging as configure_logging() leaves it: pytest adds handlers of its own to the
    root logger for each test, which would see the record."""
    root = logging.getLogger()
    pytests = [handler for handler in root.handlers if handler.__module__.startswith("_pytest")]
    for handler in pytests:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in pytests:
            root.addHandler(handler)


def written(logger, environ=ENVIRON, response=RESPONSE, seconds=0.003) -> str:
    """What one access entry writes to stdout."""
    with as_configured(), redirect_stdout(io.StringIO()) as out:
        logger.access(response, None, environ, timedelta(seconds=seconds))
    return out.getvalue()


class Seen(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.records = []

    def filter(self, record):
        self.records.append(record)
        return True


texts = st.text(max_size=30)
spans = st.builds(
    SpanIds,
    st.integers(1, 2**128 - 1),
    st.integers(1, 2**64 - 1),
    st.booleans(),
    st.one_of(st.none(), texts),
)
environs = st.fixed_dictionaries(
    {
        "REQUEST_METHOD": texts,
        "PATH_INFO": texts,
        "SERVER_PROTOCOL": texts,
        "REMOTE_ADDR": texts,
    },
    optional={
        "QUERY_STRING": texts,
        "HTTP_USER_AGENT": texts,
        "service.request_id": texts,
        "service.trace": texts,
        ROUTE_KEY: st.builds(SimpleNamespace, span=st.one_of(st.none(), spans)),
    },
)
responses = st.builds(
    lambda status, sent: SimpleNamespace(status=f"{status} Reason", sent=sent),
    st.integers(100, 599),
    st.one_of(st.none(), st.integers(0, 2**40)),
)


@settings(max_examples=200, deadline=None)
@given(
    environ=environs,
    response=responses,
    seconds=st.floats(0, 0.9),
    bound_id=st.one_of(st.none(), texts),
)
def test_the_direct_line_is_the_records_line_but_for_its_time(
    logger, environ, response, seconds, bound_id
):
    # A path, user agent or header value can hold anything a client sends: quotes,
    # control characters, terminal escapes, any Unicode. `bound_id` is the id a request
    # gunicorn answers itself has bound (error_pages.py). Both ways share _json_entry:
    # this holds what each hands it, and the message, to be the same.
    seen = Seen()
    token = request_id_var.set(bound_id)
    try:
        with counting_records() as made:
            direct = written(logger, environ, response, seconds)
            assert made == []
            logger.access_log.addFilter(seen)  # something that sees the record
            try:
                through_logging = written(logger, environ, response, seconds)
            finally:
                logger.access_log.removeFilter(seen)
    finally:
        request_id_var.reset(token)
    assert len(seen.records) == len(made) == 1
    assert direct.count("\n") == 1 and direct.endswith("\n")
    assert TIME.match(direct) and TIME.match(through_logging)
    assert TIME.sub("", direct) == TIME.sub("", through_logging)


def test_as_configured_the_line_is_written_without_a_record(logger, records):
    (line,) = written(logger).splitlines()
    assert records == []
    entry = json.loads(line)
    assert entry["logger"] == "gunicorn.access" and entry["message"] == "GET /health 200"
    assert (entry["request_id"], entry["status"], entry["bytes"]) == ("req-12345678", 200, 42)


def _filter_on(name):
    def install(monkeypatch, seen):
        target = logging.getLogger(name) if name else handler_of_the_service()
        target.addFilter(seen)
        return lambda: target.removeFilter(seen)

    return install


def handler_of_the_service():
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if handler.__module__ == GunicornLogger.__module__
    ]
    return handler


def _handler_on(name):
    def install(monkeypatch, seen):
        handler = logging.Handler()
        handler.emit = seen.filter
        logging.getLogger(name).addHandler(handler)
        return lambda: logging.getLogger(name).removeHandler(handler)

    return install


def _record_factory(monkeypatch, seen):
    factory = logging.getLogRecordFactory()

    def seeing(*args, **kwargs):
        record = factory(*args, **kwargs)
        seen.filter(record)
        return record

    logging.setLogRecordFactory(seeing)
    return lambda: logging.setLogRecordFactory(factory)


def _patched_make_record(monkeypatch, seen):
    # As ddtrace's log injection does, to add its trace ids to every record.
    make_record = logging.Logger.makeRecord

    def patched(self, *args, **kwargs):
        record = make_record(self, *args, **kwargs)
        seen.filter(record)
        return record

    monkeypatch.setattr(logging.Logger, "makeRecord", patched)
    return lambda: None


def _wrapped_emit(monkeypatch, seen):
    # Set on the handler object itself, not its class.
    handler = handler_of_the_service()
    emit = handler.emit

    def wrapped(record):
        seen.filter(record)
        emit(record)

    monkeypatch.setattr(handler, "emit", wrapped)
    return lambda: None


def _patched_call_handlers(monkeypatch, seen):
    # As sentry_sdk's logging integration does, for its breadcrumbs and events.
    call_handlers = logging.Logger.callHandlers

    def patched(self, record):
        seen.filter(record)
        return call_handlers(self, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", patched)
    return lambda: None


WATCHERS = {
    "a filter on the access logger": _filter_on("gunicorn.access"),
    "a filter on the stdout handler": _filter_on(None),
    "a handler of the app's on the root logger": _handler_on(""),
    "a handler on gunicorn's logger": _handler_on("gunicorn"),
    "a record factory": _record_factory,
    "a patched Logger.callHandlers (Sentry)": _patched_call_handlers,
    "a patched Logger.makeRecord (ddtrace)": _patched_make_record,
    "the handler's emit wrapped on the handler": _wrapped_emit,
}


@pytest.mark.parametrize("install", WATCHERS.values(), ids=WATCHERS.keys())
def test_whatever_could_see_the_record_gets_it_and_the_line_is_written_once(
    logger, monkeypatch, install
):
    seen = Seen()
    uninstall = install(monkeypatch, seen)
    try:
        out = written(logger)
    finally:
        uninstall()
    assert [record.name for record in seen.records] == ["gunicorn.access"]
    (line,) = out.splitlines()
    assert json.loads(line)["message"] == "GET /health 200"


def test_a_line_that_cannot_be_written_is_reported_by_logging_not_raised(logger, capsys):
    class Broken(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    with as_configured(), redirect_stdout(Broken()):
        logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))
    assert "--- Logging error ---" in capsys.readouterr().err


def test_a_line_whose_flush_failed_is_reported_and_not_written_again(logger, capsys):
    # Its bytes are in the stream's buffer already, and go out with the next flush:
    # written again through logging, they would come out twice.
    class FlushFailsOnce(io.StringIO):
        failed = False

        def flush(self):
            if not self.failed:
                self.failed = True
                raise BlockingIOError(11, "Resource temporarily unavailable")

    stream = FlushFailsOnce()
    with as_configured(), redirect_stdout(stream):
        logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "GET /health 200"
    assert "--- Logging error ---" in capsys.readouterr().err


def test_a_handler_level_over_info_leaves_no_line_either_way(logger, monkeypatch):
    monkeypatch.setattr(handler_of_the_service(), "level", logging.WARNING)
    assert written(logger) == ""


def test_text_lines_are_formatted_by_logging(logger, records):
    configure_logging("info", "text")
    try:
        (line,) = written(logger).splitlines()
    finally:
        configure_logging("info", "json")
    assert len(records) == 1
    assert "GET /health 200" in line and not line.startswith("{")
