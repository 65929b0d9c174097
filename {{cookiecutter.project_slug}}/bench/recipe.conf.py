"""The recipe most Gunicorn guides give, as the benchmark's yardstick.

`workers = cpu_count() * 2 + 1`, sync workers, no access log. The benchmark passes
--bind, and for its other references --worker-class, --threads and --keep-alive.
"""

import multiprocessing

workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
accesslog = None
