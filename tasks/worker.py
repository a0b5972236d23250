"""Entry point for the worker and beat processes: `celery -A tasks.worker worker|beat`.

Builds the Flask app (configuration from the environment, like the web process) and the
Celery app bound to it; importing this module is what a worker does at start.
"""
from __future__ import annotations

from tasks.app import celery_init_app
from workflow.app import create_app

flask_app = create_app()
celery_app = celery_init_app(flask_app)
