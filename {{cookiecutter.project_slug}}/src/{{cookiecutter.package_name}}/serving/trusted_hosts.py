"""TRUSTED_HOSTS, and redirects that never carry the Host header.

With TRUSTED_HOSTS set, a request whose Host matches none of its names gets a 400
before any view runs (Werkzeug's matching: `.example.com` takes example.com and
its subdomains; the port and letter case are ignored). Health checks are exempt: Kubernetes sends
the pod's IP as Host, the image's HEALTHCHECK 127.0.0.1, Railway
healthcheck.railway.app, and /health and /ready build no URL from it.

Unset (the default), every Host is answered: the names are not known before a
deploy, and each platform's router delivers only requests for the app's own
domains (the deploy files set TRUSTED_HOSTS where the platform names them).

Whatever it says, routing's own redirects (a missing trailing slash, merged
slashes) are sent as a path, `Location: /static/x`, never as
`http://HOST/static/x`: Werkzeug builds them from the Host header, so a client
could otherwise make the service redirect to any site, or poison a cache with one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.exceptions import SecurityError
from werkzeug.routing import RequestRedirect
from werkzeug.sansio.utils import host_is_trusted

# The paths platform probes ask for, whatever Host they send.
PROBE_PATHS = frozenset({"/health", "/ready"})
# Where init_trusted_hosts keeps its hook, in app.extensions: insert_after_host_check.
_HOST_CHECK = "service.host_check"


def init_trusted_hosts(app: Flask, trusted_hosts: tuple[str, ...]) -> None:
    def check_host_and_redirects():
        if (
            trusted_hosts
            and request.path not in PROBE_PATHS
            and not host_is_trusted(request.host.lower(), trusted_hosts)
        ):
            raise SecurityError("The Host header names a host this service does not serve.")
        redirect = request.routing_exception
        if isinstance(redirect, RequestRedirect):
            request.routing_exception = _as_path(redirect)

    # Before every other hook: a routing redirect is raised after them, and the
    # Host check must come before anything reads it.
    app.before_request_funcs.setdefault(None, []).insert(0, check_host_and_redirects)
    app.extensions[_HOST_CHECK] = check_host_and_redirects


def insert_after_host_check(app: Flask, hook) -> None:
    """Add a before_request hook right after the Host check, ahead of the app's own: for
    a hook that reads the Host or holds something for the request, which a refused
    Host must never reach. First of all where there is no Host check."""
    hooks = app.before_request_funcs.setdefault(None, [])
    check = app.extensions.get(_HOST_CHECK)
    position = hooks.index(check) + 1 if check in hooks else 0
    hooks.insert(position, hook)


def _as_path(redirect: RequestRedirect) -> RequestRedirect:
    url = urlsplit(redirect.new_url)
    # One leading slash: `//evil.example/x` would be a protocol-relative URL, off-site.
    path = "/" + url.path.lstrip("/")
    relative = RequestRedirect(path + (f"?{url.query}" if url.query else ""))
    relative.code = redirect.code
    return relative
