"""URL_PREFIX: the path a proxy mounts the service under, set by you, never by a client.

gunicorn_config.py turns off gunicorn's SCRIPT_NAME and PATH_INFO headers (any
client that reached the port could set them). A service behind a proxy that
forwards `/shop/...` unchanged sets URL_PREFIX=/shop: a request for `/shop/x` is
routed as `/x` with SCRIPT_NAME `/shop`, so url_for() and redirects keep the prefix.
A path outside the prefix is served as it is: the platform's health checks and a
proxy that strips the prefix still reach `/health`.
"""

from __future__ import annotations


class UrlPrefixMiddleware:
    def __init__(self, app, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            # A copy: gunicorn logs the access line from its own environ, which keeps
            # the path the client asked for (`/shop/x`, not `/x`).
            environ = {
                **environ,
                "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + self.prefix,
                "PATH_INFO": path[len(self.prefix) :],
            }
        return self.app(environ, start_response)
