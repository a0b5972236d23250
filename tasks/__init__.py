"""Background work: the Celery app (created from the Flask app) and its tasks.

- `tasks.app`: `celery_init_app(flask_app)`; settings from the CELERY_* config keys.
- `tasks.alerts`: `tasks.sweep` (daily beat + on demand), `tasks.deliver` (one outbox row,
  retried with backoff), `tasks.cleanup_broker` (deletes delivered messages of the SQL broker).
- `tasks.bulk`: `tasks.bulk_chunk` (one chunk of a rebuild or verify run over every case),
  `tasks.bulk_resume` (sends stalled chunks again).
- `tasks.broker`: the embedded SQLAlchemy/SQLite broker transport, with kombu's known problems
  handled.
- `tasks.worker`: what `celery -A tasks.worker worker|beat` imports.

Tasks are thin adapters: parse arguments, call one service function, map failure to a retry.
"""
