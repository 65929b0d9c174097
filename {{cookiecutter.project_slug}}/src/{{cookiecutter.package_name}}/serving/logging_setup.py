"""The one logging setup: JSON lines (or text) on stdout, for the app and for gunicorn.

Only the root logger has a handler; every other logger, gunicorn's error and access
logs included, propagates to it, so no line is printed twice. Gunicorn uses
`GunicornLogger` (set as `logger_class` in gunicorn_config.py), which routes its logs
here and writes access entries as structured fields rather than a hand-written
JSON `access_log_format`, which would not escape quotes in paths or user agents;
while nothing but the stdout handler would see an access entry's record, it writes
the entry's line to that handler without making the record, which saves some 30 µs a
request (GunicornLogger._write_directly). The same call hands gunicorn's time for each request
to slow_requests.py.

Standard library only: gunicorn's master imports this before workers patch sockets.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial

from gunicorn.glogging import Logger as _GunicornBaseLogger

from .settings import current_settings
from .slow_requests import ROUTE_KEY, warn_if_slow


class SpanIds:
    """The current OpenTelemetry span of a request, as its log lines carry it: its ids
    are written out as hex only when a line needs them (most requests log none but
    their access line, and tracing's cost per request is budgeted: tracing.py)."""

    __slots__ = ("_span_id", "_trace_id", "project", "sampled")

    def __init__(self, trace_id: int, span_id: int, sampled: bool, project: str | None) -> None:
        self._trace_id = trace_id
        self._span_id = span_id
        self.sampled = sampled
        # GOOGLE_CLOUD_PROJECT, for Cloud Logging's trace field; else None.
        self.project = project

    @property
    def trace_id(self) -> str:
        return format(self._trace_id, "032x")

    @property
    def span_id(self) -> str:
        return format(self._span_id, "016x")

    @property
    def cloud_trace(self) -> str | None:
        """projects/PROJECT/traces/TRACE_ID where GOOGLE_CLOUD_PROJECT is set."""
        return f"projects/{self.project}/traces/{self.trace_id}" if self.project else None


# Set per request by request_context.py; read by the formatter for every line.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_var: ContextVar[str | None] = ContextVar("trace", default=None)
# Set while a traced request runs (tracing.py); None when tracing is off.
span_var: ContextVar[SpanIds | None] = ContextVar("span", default=None)

_HANDLER_MARK = "_service_stdout_handler"
# gunicorn's access log: its entries carry their fields for JSON, not for text lines.
_ACCESS_LOGGER = "gunicorn.access"
# Set on an exception that was logged with its request's id (request_context.py,
# a streamed body failing after the response started), so that gunicorn's own
# "Error handling request" line for it, written once the id is unbound, is not a
# second, id-less one.
_LOGGED_MARK = "__service_logged__"
# Record attributes that are the LogRecord's own, not fields the caller passed.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time of each line, not at setup."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass

    def write_line(self, line: str, record: Callable[[], logging.LogRecord]) -> None:
        """Write a formatted line as emit() does, under the handler's lock; a failed write
        is reported as emit() reports one, with the `record()` it stands for. Never
        written again: part of it may be out already, or still in the stream's buffer."""
        self.acquire()
        try:
            stream = sys.stdout
            stream.write(line + self.terminator)
            stream.flush()
        except RecursionError:  # as emit(): Python's own limit, not the stream's
            raise
        except Exception:
            self.handleError(record())
        finally:
            self.release()


# Terminal colour and cursor sequences. Werkzeug's development server colours its
# request lines whatever the output is; they never belong in a JSON line or a file.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LEVEL_COLOURS = {"WARNING": "33", "ERROR": "31", "CRITICAL": "1;31", "DEBUG": "2"}


def _plain(text: str) -> str:
    return _ANSI_ESCAPE.sub("", text) if "\x1b" in text else text


# What would end a text line early or act on a terminal: C0 controls (CR and LF
# among them), DEL, C1 controls (NEL among them) and Unicode's line and paragraph
# separators, every character str.splitlines() splits on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _one_line(text: str) -> str:
    """`text` without terminal sequences, its control characters written as escapes."""
    return _CONTROL.sub(_escape_control, _plain(text))


# Built once: json.dumps(entry, default=str) builds a new encoder for every line.
_encode_json = json.JSONEncoder(default=str).encode


# The last second written, and its text: a busy worker writes many lines a second.
_last_second: tuple[int, str] = (-1, "")


def _rfc3339_utc(created: float) -> str:
    """2026-01-31T09:15:02.123Z: seconds and milliseconds from the same float, so a
    time a hair before a whole second never prints as the next second's .999."""
    global _last_second
    seconds = int(created)
    milliseconds = int((created - seconds) * 1000)
    last, text = _last_second  # one read: another thread may replace it meanwhile
    if seconds != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, text)
    return f"{text}.{milliseconds:03d}Z"


def _extra_fields(record: logging.LogRecord) -> dict:
    """The fields a caller passed with `extra=`."""
    return {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}


def _json_entry(
    created: float,
    severity: str,
    message: str,
    logger: str,
    *,
    request_id: str | None,
    span: SpanIds | None,
    trace: str | None,
    fields: dict,
) -> dict:
    """A JSON line's object: every entry, the access entries written directly included."""
    entry = {
        "time": _rfc3339_utc(created),
        # Cloud Logging reads `severity`; Python's level names are valid values.
        "severity": severity,
        "message": _plain(message),
        "logger": logger,
    }
    if request_id:
        entry["request_id"] = request_id
    if span is not None:
        entry["trace_id"] = span.trace_id
        entry["span_id"] = span.span_id
        if span.cloud_trace:
            # The span's trace, which the spans exported carry (Cloud Trace's ids
            # are the same W3C ids): Logs Explorer links the line to it.
            entry["logging.googleapis.com/trace"] = span.cloud_trace
            entry["logging.googleapis.com/spanId"] = span.span_id
            entry["logging.googleapis.com/trace_sampled"] = span.sampled
    elif trace:
        entry["logging.googleapis.com/trace"] = trace
    # Fields passed with `extra=` become top-level keys.
    for key, value in fields.items():
        entry.setdefault(key, value)
    return entry


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the field names Cloud Logging understands."""

    def format(self, record: logging.LogRecord) -> str:
        span = span_var.get()
        entry = _json_entry(
            record.created,
            record.levelname,
            record.getMessage(),
            record.name,
            request_id=request_id_var.get(),
            span=span,
            trace=trace_var.get() if span is None else None,
            fields=_extra_fields(record),
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode_json(entry)


class TextFormatter(logging.Formatter):
    """Human-readable lines for local development (LOG_FORMAT=text).

    One entry is one line, whatever its fields hold: a path with %0d%0a, a header
    value or an exception's message cannot start a line that looks like an entry of
    its own. Control characters are written as escapes (\\r, \\n, \\x1b), and so are
    a traceback's line breaks. Fields passed with `extra=` follow the message as
    one JSON object, but for access entries. Colour only when stdout is a terminal; piped or
    redirected, the lines are plain.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        banner = _dev_server_banner(record)
        if banner:
            lines = [logging.makeLogRecord({**vars(record), "msg": line}) for line in banner]
            return "\n".join(self.format(line) for line in lines)
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        request_id = request_id_var.get()
        if request_id:
            line = f"{line} [request_id={request_id}]"
        span = span_var.get()
        if span is not None:
            line = f"{line} [trace_id={span.trace_id}]"
        fields = _extra_fields(record)
        if fields and record.name != _ACCESS_LOGGER:
            # The fields JSON shows beside the message (the boot line's configuration,
            # a failed app's name), as one JSON object. An access entry's message says
            # method, path and status already: enough to read locally.
            line = f"{line} {_encode_json(fields)}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        line = _one_line(line)
        if not _stdout_is_a_terminal():
            return line
        colour = _LEVEL_COLOURS.get(record.levelname)
        return f"\x1b[{colour}m{line}\x1b[0m" if colour else line


def _dev_server_banner(record: logging.LogRecord) -> list[str] | None:
    """The lines of Werkzeug's development server announcing itself (`make dev`).

    It logs its warning and its ` * Running on ...` lines as one message. That text is
    its own, with no request data in it, so each line is shown as an entry of its own
    rather than joined by a written `\\n`; any other message still escapes its breaks.
    """
    if record.name != "werkzeug" or record.args or not isinstance(record.msg, str):
        return None
    first, *rest = record.msg.split("\n")
    if rest and all(line.startswith(" * Running on ") for line in rest):
        return [first, *rest]
    return None


def _stdout_is_a_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def _passed_through() -> tuple:
    """The methods that make an INFO record and pass it on to the handler's stream."""
    return (
        logging.Logger.makeRecord,
        logging.Logger.handle,
        logging.Logger.filter,
        logging.Logger.callHandlers,
        _StdoutHandler.handle,
        _StdoutHandler.filter,
        _StdoutHandler.format,
        _StdoutHandler.emit,
        _StdoutHandler.flush,
    )


# As this module found them, if they were logging's own: where one has been patched
# since (Sentry's logging integration patches Logger.callHandlers, ddtrace's log
# injection Logger.makeRecord), access entries go through logging. Where one was
# patched before, this is None, which no later state equals: always through logging.
_LOGGING_AS_FOUND = (
    _passed_through()
    if all(method.__module__ == "logging" for method in _passed_through())
    else None
)
_LOGGER_TYPES = (logging.Logger, logging.RootLogger)
# The same methods, set on one logger, handler or formatter object rather than its class.
_METHOD_NAMES = frozenset(
    ("makeRecord", "handle", "filter", "callHandlers", "format", "emit", "flush")
)


def _patched(target: object) -> bool:
    return not _METHOD_NAMES.isdisjoint(vars(target))


def _json_handler_alone(logger: logging.Logger) -> _StdoutHandler | None:
    """The stdout handler, where an INFO record of `logger` would only be formatted as
    JSON there and written: logging as configure_logging() leaves it. Else None."""
    if (
        logging.getLogRecordFactory() is not logging.LogRecord
        or _passed_through() != _LOGGING_AS_FOUND
    ):
        return None
    if logger.filters or logger.disabled or type(logger) not in _LOGGER_TYPES:
        return None
    if _patched(logger):
        return None
    # Logger.callHandlers: the handlers of the logger and of its parents, up to one that
    # does not propagate (the parents' filters see no record of their children).
    handler = None
    current = logger
    while current is not None:
        if current.handlers:
            if handler is not None or len(current.handlers) != 1:
                return None
            handler = current.handlers[0]
        current = current.parent if current.propagate else None
    if (
        type(handler) is not _StdoutHandler
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) is not JsonFormatter
        or _patched(handler)
        or _patched(handler.formatter)
    ):
        return None
    return handler


def configure_logging(level: str, log_format: str) -> None:
    """Install the single stdout handler on the root logger. Safe to call again."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = _StdoutHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())


def service_handler_in_place() -> bool:
    """Whether the root logger still has the handler configure_logging() installed."""
    return any(getattr(handler, _HANDLER_MARK, False) for handler in logging.getLogger().handlers)


def mark_logged(error: BaseException) -> None:
    """Say that `error` was logged with its request's id: gunicorn's line for it is dropped."""
    setattr(error, _LOGGED_MARK, True)


# gunicorn's line once its master has bound (Arbiter.start), with its sockets and pid.
_GUNICORN_LISTENING = "Listening at: %s (%s)"


class GunicornLogger(_GunicornBaseLogger):
    """Gunicorn's logger, writing through configure_logging() instead of its own handlers."""

    def setup(self, cfg) -> None:
        self.cfg = cfg
        self._access_log_enabled = bool(cfg.accesslog)
        settings = current_settings()
        # Read once, in the master: each worker inherits it (0: no slow-request lines).
        self._slow_request_seconds = settings.slow_request_seconds
        configure_logging(cfg.loglevel, settings.log_format)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True
        self.error_log.setLevel(cfg.loglevel.upper())
        self.access_log.setLevel(logging.INFO)

    def info(self, msg, *args, **kwargs) -> None:
        # With a socket per worker (reuse_port) the master binds none, and gunicorn
        # logs "Listening at:  (PID)" with no address; the when_ready hook
        # (server_hooks.py) logs the addresses the workers bind instead.
        if msg == _GUNICORN_LISTENING and args[:1] == ("",):
            return
        super().info(msg, *args, **kwargs)

    def access(self, resp, req, environ, request_time) -> None:
        """The access entry, and the slow-request WARNING (slow_requests.py): both from
        gunicorn's one measure of the request, taken after its last byte was sent."""
        seconds = request_time.total_seconds()
        slow = self._slow_request_seconds and seconds > self._slow_request_seconds
        logged = self.access_log_enabled and self.access_log.isEnabledFor(logging.INFO)
        if not (logged or slow):
            return
        status = int(getattr(resp, "status_code", None) or str(resp.status).split(None, 1)[0])
        fields = {
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "protocol": environ.get("SERVER_PROTOCOL"),
        }
        # The request id and trace live in the WSGI environ: by the time gunicorn
        # logs the access entry, the request's context variables are reset. A request
        # gunicorn answers itself has its id bound instead (error_pages.py).
        request_id = environ.get("service.request_id") or request_id_var.get()
        trace = environ.get("service.trace")
        note = environ.get(ROUTE_KEY)
        span = note.span if note is not None else None
        if not slow and self._write_directly(fields, request_id, span, trace):
            return
        token = request_id_var.set(request_id)
        trace_token = trace_var.set(trace)
        span_token = span_var.set(span)
        try:
            # The warning first: once a request's access line is out, so is its warning
            # (what the tests, and anyone tailing the log, can wait for).
            if slow:
                warn_if_slow(environ, status, seconds, self._slow_request_seconds)
            if logged:
                self.access_log.handle(self._access_record(fields))
        finally:
            span_var.reset(span_token)
            trace_var.reset(trace_token)
            request_id_var.reset(token)

    def _access_record(self, fields: dict) -> logging.LogRecord:
        # makeRecord rather than info(): info() also walks the stack for the caller's
        # file and line, always gunicorn's here.
        return self.access_log.makeRecord(
            self.access_log.name,
            logging.INFO,
            "(access)",
            0,
            "%s %s %s",
            (fields["method"], fields["path"], fields["status"]),
            None,
            extra=fields,
        )

    def _write_directly(
        self, fields: dict, request_id: str | None, span: SpanIds | None, trace: str | None
    ) -> bool:
        """Write the access line straight to the handler, where logging as
        configure_logging() left it would do nothing else with its record. True if done.

        The access line is the largest cost the service adds to a request, and in the
        server its record's way through logging cost some 30 µs a request more than
        this (docs/performance.md). The line is the one the record would give
        (tests/serving/test_access_lines.py). Where anything could see the record (a
        filter, another handler, a record factory, a patched logging, as Sentry's and
        ddtrace's integrations patch it), it goes through logging instead.
        """
        handler = _json_handler_alone(self.access_log)
        if handler is None:
            return False
        try:
            line = _encode_json(
                _json_entry(
                    time.time(),
                    "INFO",
                    f"{fields['method']} {fields['path']} {fields['status']}",
                    _ACCESS_LOGGER,
                    request_id=request_id,
                    span=span,
                    trace=trace,
                    fields=fields,
                )
            )
        except Exception:  # nothing written yet: logging's turn, which reports it
            return False
        handler.write_line(line, partial(self._access_record, fields))
        return True

    def exception(self, msg, *args, **kwargs) -> None:
        if getattr(sys.exc_info()[1], _LOGGED_MARK, False):
            return
        super().exception(msg, *args, **kwargs)

    def reopen_files(self) -> None:
        """Nothing to reopen: every line goes to stdout."""

    def close_on_exec(self) -> None:
        """Nothing to mark: no log files are opened."""
