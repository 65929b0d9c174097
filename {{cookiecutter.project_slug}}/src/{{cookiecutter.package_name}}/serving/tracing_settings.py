"""Whether OpenTelemetry traces are exported, and where: read and checked at boot.

settings.py calls `load_tracing_settings()` with the rest of the environment, in the
master, before anything binds; a bad value stops the service with one line naming
the variable. Standard library only, like settings.py: nothing from OpenTelemetry is
imported unless tracing is on, and then only in the workers (tracing.py).

On when the standard variables ask for an exporter, and OTEL_SDK_DISABLED is not true:
- OTEL_TRACES_EXPORTER=otlp, or
- OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT set, with
  OTEL_TRACES_EXPORTER unset.
OTEL_TRACES_EXPORTER=none turns it off whatever the endpoints say. The SDK's own
default exporter is otlp, which would send spans to localhost:4318 in every project
that never asked for traces: here nothing is exported unless a variable asks.

Only OTLP over HTTP with protobuf is installed (opentelemetry-exporter-otlp-proto-http):
gRPC's channels break across gunicorn's fork and its wheel is larger than the rest
of the image's Python packages together; `console` would print multi-line JSON spans
among the one-line log entries. Both are refused by name. The exporter reads its
endpoint, headers, compression and timeout from these same variables, once they
passed here; docs/tracing.md lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from .settings import Env

EXPORTERS = ("otlp", "none")
PROTOCOLS = ("http/protobuf",)
COMPRESSIONS = ("gzip", "none")
# The SDK's samplers that need no other package (jaeger_remote and xray do).
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
# An export that has not answered in a minute will not: the batch waits behind it.
TIMEOUT_MAX_SECONDS = 60
RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
# A plain decimal ratio from 0 to 1: 0.25, 1, .5 (no exponent, sign, nan or inf).
_RATIO = re.compile(r"^([01](\.[0-9]*)?|\.[0-9]+)$")
# OTEL_EXPORTER_OTLP_HEADERS: key=value pairs separated by commas (W3C baggage format).
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+=[^,]*$")


@dataclass(frozen=True)
class TracingSettings:
    # Spans are made and exported (to the endpoint the exporter reads): see above.
    enabled: bool
    # The resource's service.name: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES's,
    # else the project's slug (the specification's order).
    service_name: str
    # OTEL_TRACES_SAMPLER and its ratio (OTEL_TRACES_SAMPLER_ARG), for ratio samplers.
    sampler: str
    sampler_ratio: float
    # URL regexes not traced besides the serving machinery's own paths
    # (OTEL_PYTHON_FLASK_EXCLUDED_URLS, the Flask instrumentation's name for them,
    # searched in the whole URL as it did: tracing.py).
    excluded_urls: tuple[str, ...]


def load_tracing_settings(env: Env, default_service_name: str) -> TracingSettings:
    from .settings import SettingsError

    disabled = env.boolean("OTEL_SDK_DISABLED", False)
    exporters = _exporters(env)
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        protocol = env.text(name, None)
        if protocol is not None and protocol not in PROTOCOLS:
            raise SettingsError(
                f"{name}={protocol!r} is not allowed: expected http/protobuf (gRPC's "
                "exporter is not installed: its channels break across gunicorn's fork)"
            )
    endpoints = [
        _endpoint(env, name)
        for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    ]
    for name in ("OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"):
        env.choice(name, "none", COMPRESSIONS, lower=True)
    for name in ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"):
        # Seconds to the Python exporter, where the specification says milliseconds: a
        # 10000 meant as 10 s would let one export wait for a hung collector for hours.
        if env.seconds(name, 10.0, minimum=0.1) > TIMEOUT_MAX_SECONDS:
            raise SettingsError(
                f"{name}={env.text(name, '')!r} is not allowed: expected seconds, at most "
                f"{TIMEOUT_MAX_SECONDS} (the Python exporter reads seconds, not milliseconds)"
            )
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        _headers(env, name)
    sampler = env.choice("OTEL_TRACES_SAMPLER", "parentbased_always_on", SAMPLERS, lower=True)
    ratio = 1.0
    raw_ratio = env.text("OTEL_TRACES_SAMPLER_ARG", None)
    if raw_ratio is not None and sampler in RATIO_SAMPLERS:
        if not _RATIO.match(raw_ratio) or float(raw_ratio) > 1:
            raise SettingsError(
                f"OTEL_TRACES_SAMPLER_ARG={raw_ratio!r} is not allowed: expected a ratio "
                f"from 0 to 1 (such as 0.1) for OTEL_TRACES_SAMPLER={sampler}"
            )
        ratio = float(raw_ratio)
    # Named exporters decide; unnamed, an endpoint asks (see the top of this file).
    asked = any(endpoints) if exporters is None else "otlp" in exporters
    return TracingSettings(
        enabled=asked and not disabled,
        service_name=env.text("OTEL_SERVICE_NAME", None)
        or _resource_attributes(env).get("service.name")
        or default_service_name,
        sampler=sampler,
        sampler_ratio=ratio,
        excluded_urls=_excluded_urls(env),
    )


def _exporters(env: Env) -> tuple[str, ...] | None:
    from .settings import SettingsError

    value = env.text("OTEL_TRACES_EXPORTER", None)
    if value is None:
        return None
    names = tuple(part.strip().lower() for part in value.split(","))
    for name in names:
        if name not in EXPORTERS:
            raise SettingsError(
                f"OTEL_TRACES_EXPORTER={value!r} is not allowed: expected otlp or none "
                "(OTLP over HTTP is the one exporter installed; console would break the "
                "one-line JSON logs)"
            )
    if "none" in names and len(names) > 1:
        raise SettingsError(
            f"OTEL_TRACES_EXPORTER={value!r} is not allowed: none goes alone (otlp or none)"
        )
    return names


def _endpoint(env: Env, name: str) -> str | None:
    from .settings import SettingsError

    value = env.text(name, None)
    if value is None:
        return None
    try:
        url = urlsplit(value)
        _ = url.port  # a ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.hostname:
        # Never echoed with an @ in it: that may be a password.
        shown = repr(value) if "@" not in value else "(not shown)"
        raise SettingsError(
            f"{name}={shown} is not allowed: expected an http:// or https:// URL "
            "such as http://otel-collector:4318"
        )
    if url.username or url.password or url.query or url.fragment:
        raise SettingsError(
            f"{name} is not allowed: expected a URL without credentials, query or "
            "fragment (send credentials in OTEL_EXPORTER_OTLP_HEADERS)"
        )
    return value


def _headers(env: Env, name: str) -> None:
    """Checked by name only: the headers carry a vendor's API key, never logged."""
    from .settings import SettingsError

    value = env.text(name, None)
    if value is None:
        return
    if not all(_HEADER.match(pair.strip()) for pair in value.split(",")):
        raise SettingsError(
            f"{name} is not allowed: expected comma-separated key=value pairs "
            "(api-key=SECRET,x-tenant=ID); the value is not shown, it may hold a secret"
        )


def _resource_attributes(env: Env) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES, key=value pairs (values percent-encoded), checked here:
    the SDK would drop the whole variable for one bad pair, with a warning."""
    from .settings import SettingsError

    value = env.text("OTEL_RESOURCE_ATTRIBUTES", None)
    if value is None:
        return {}
    pairs = [pair.strip().partition("=") for pair in value.split(",")]
    if not all(key.strip() and equals for key, equals, _ in pairs):
        raise SettingsError(
            f"OTEL_RESOURCE_ATTRIBUTES={value!r} is not allowed: expected comma-separated "
            "key=value pairs (deployment.environment.name=prod,team=payments)"
        )
    return {key.strip(): unquote(attribute.strip()) for key, _, attribute in pairs}


def _excluded_urls(env: Env) -> tuple[str, ...]:
    from .settings import SettingsError

    value = env.text("OTEL_PYTHON_FLASK_EXCLUDED_URLS", None)
    if value is None:
        return ()
    entries = tuple(part.strip() for part in value.split(","))
    for entry in entries:
        try:
            re.compile(entry)
        except re.error:
            raise SettingsError(
                f"OTEL_PYTHON_FLASK_EXCLUDED_URLS={value!r} is not allowed: {entry!r} is "
                "not a regular expression (comma-separated regexes, searched in the URL)"
            ) from None
    return entries
