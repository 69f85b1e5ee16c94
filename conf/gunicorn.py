"""gunicorn's configuration on servers (and in ``make bench-api``).

Read by ``gunicorn -c conf/gunicorn.py``; each value can be overridden from the
environment (GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_TIMEOUT,
GUNICORN_CONTROL_SOCKET) without editing it.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# gunicorn's own rule of thumb for sync workers: two per core, plus one.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# Import the app once in the master, then fork: workers are ready in half the
# time, which shortens deploys and rollbacks. Every release starts a master of
# its own, so nothing relies on reloading code in a running master.
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# Finish the requests in flight before exiting on SIGTERM: deploys stop old releases so.
graceful_timeout = 30
# Recycle workers now and then, so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# nginx on the same host sets X-Forwarded-Proto; trust it from there only.
forwarded_allow_ips = "127.0.0.1"
# gunicornc's control socket. On servers it goes beside the app's own socket
# in the app user's runtime folder: the default, under HOME, is not the app's
# to write.
if "GUNICORN_CONTROL_SOCKET" in os.environ:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
errorlog = "-"
