"""Flask extensions created unbound, bound to an app by the factory (`workflow.app`); modules
that need one import it from here, never from the factory."""
from __future__ import annotations

from flask_login import LoginManager
from flask_migrate import Migrate

login_manager = LoginManager()
migrate = Migrate()
