"""Session cookies that are Secure whenever the request itself came over https.

Flask's SESSION_COOKIE_SECURE is one value for every request. Behind a platform's
router the service sees plain http, and gunicorn sets the scheme to https only when
the router's X-Forwarded-Proto comes from FORWARDED_ALLOW_IPS (the deploy files set
it). So the cookie is Secure when the request was https through a trusted proxy, and
still works on http://127.0.0.1 in development. HttpOnly is Flask's default;
SameSite=Lax is set by init_app().
"""

from __future__ import annotations

from flask import has_request_context, request
from flask.sessions import SecureCookieSessionInterface


class ProxyAwareSessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app) -> bool:
        configured = bool(app.config["SESSION_COOKIE_SECURE"])
        return configured or (has_request_context() and request.is_secure)
