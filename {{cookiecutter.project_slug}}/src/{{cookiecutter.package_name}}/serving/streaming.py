"""For views that stream: end a long-lived stream when the worker starts to stop.

A streamed response holds its connection, and a thread or greenlet of its worker,
until its generator returns. On SIGTERM (a deploy, `docker stop`, a scale-down)
gunicorn waits up to GUNICORN_GRACEFUL_TIMEOUT for responses in flight, then kills
the worker and cuts whatever is still open. A stream with no natural end
(server-sent events, long polling) should instead wait for its next event with
`sleep_unless_draining`, or check `is_draining()`, and return once the worker is
draining: the client sees the stream end and reconnects, to a worker or instance
that is not stopping.

    from flask import Response
    from {{ cookiecutter.package_name }}.serving import sleep_unless_draining

    @bp.get("/events")
    def events():
        def generate():
            yield "retry: 1000\\n\\n"  # EventSource reconnects after 1 s
            while sleep_unless_draining(5.0):
                yield f"data: {latest_price()}\\n\\n"

        return Response(generate(), mimetype="text/event-stream")

What the machinery already does for every streamed body (request_context.py): log
lines written while it is iterated carry the request id and trace; an exception
before its first chunk is answered by errors.py like any other 500; one after it
cuts the connection and is logged once, with the request id. Flask's
`stream_with_context` is still what gives a generator `request` and `session`.
Streams need GUNICORN_WORKER_CLASS gthread or gevent: a sync worker serves nothing
else while one is open.
"""

from __future__ import annotations

import time

from .lifecycle import is_draining

__all__ = ["is_draining", "sleep_unless_draining"]

# How often a waiting stream looks at the draining flag: a small part of the
# graceful timeout (8 s by default), and rare enough that a thousand open streams
# wake a worker only 4000 times a second. The flag is a plain attribute set by the
# SIGTERM handler, where nothing that wakes a sleeper is safe under every worker
# class (lifecycle.py).
_CHECK_INTERVAL = 0.25


def sleep_unless_draining(seconds: float) -> bool:
    """Wait `seconds`, or less once the worker is draining. True: keep streaming."""
    deadline = time.monotonic() + seconds
    while not is_draining():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        # time.sleep: a thread's own under gthread, the hub's under gevent (patched).
        time.sleep(min(remaining, _CHECK_INTERVAL))
    return False
