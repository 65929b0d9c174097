"""Headers every response carries, for a JSON API that no page should embed."""

from __future__ import annotations

from flask import Flask, Response

SECURITY_HEADERS = {
    # Browsers must not guess a content type other than the one sent.
    "X-Content-Type-Options": "nosniff",
    # No page may frame these responses (the old header and the CSP one).
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    # Paths can carry ids; do not leak them to other sites.
    "Referrer-Policy": "no-referrer",
}


def add_security_headers(app: Flask) -> None:
    @app.after_request
    def _set_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
