"""The probe app with an in-process scheduler started as it loads, as apps do. Never deployed.

Gunicorn loads it as `harness.scheduler_app:app`, so every worker starts its own
"scheduler": a daemon thread named "APScheduler" that waits on an event, as APScheduler
3's BackgroundScheduler.start() starts one (APScheduler is not among the dev
dependencies; the detection looks at the thread's name, which this thread has).
"""

import threading

from .probe_app import create_probe_app

# Never set: the thread waits until the worker exits (a daemon thread does not hold it).
_stop = threading.Event()


def start_scheduler() -> threading.Thread:
    thread = threading.Thread(target=_stop.wait, name="APScheduler", daemon=True)
    thread.start()
    return thread


app = create_probe_app()
scheduler_thread = start_scheduler()
