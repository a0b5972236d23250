"""Production web server: `gunicorn -c config/gunicorn.conf.py wsgi:app` (behind nginx).

Worker class gthread, a few threads per process: a request mostly waits on the database, and
the long ones (PDF/Excel exports, reports) would pin a whole sync worker and, past `timeout`,
get it killed by the master; a gthread worker keeps answering its heartbeat and its other
threads keep serving. CPU-bound work still needs processes (the GIL), hence several workers.

Each worker imports the app after the fork (no preload), so every worker builds its own
SQLAlchemy engine and pool: no pooled connection is ever shared by two processes.
tests/integration/test_production_stack.py runs exactly this file.
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# 2 x cores, at least 2: one worker stuck (a slow export, a restart) never stops the site.
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, 2 * (os.cpu_count() or 1)))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))  # pool_size is 5: a thread never waits for one
preload_app = False  # see above; preloading would need engine.dispose() in post_fork

timeout = 60  # a worker silent this long is killed and replaced
graceful_timeout = 30  # SIGTERM / SIGHUP: requests in flight get this long to finish
keepalive = 5

accesslog = "-"  # stdout, for the process manager's log; the pid shows which worker answered
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms worker=%(p)s'  # %(p)s: <pid>
errorlog = "-"

# Newer gunicorn opens a control socket at one fixed path per user ($HOME/.gunicorn): two
# instances on one host would fight over it, and nothing here uses gunicornc. Older versions
# ignore the setting.
control_socket_disable = True
