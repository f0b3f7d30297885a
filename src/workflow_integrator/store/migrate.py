"""Applying Alembic migrations: ``wi db upgrade`` and the start of ``wi serve``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from workflow_integrator.store.secretbox import SecretBox

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(engine: Engine, secretbox: SecretBox | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["engine"] = engine
    # Migrations that encrypt need the running key; without it they leave that to start-up.
    config.attributes["secretbox"] = secretbox
    return config


def upgrade(engine: Engine, revision: str = "head", secretbox: SecretBox | None = None) -> None:
    """Apply pending migrations up to ``revision`` (``secretbox``: the key, for the steps
    that encrypt stored values)."""
    config = _config(engine, secretbox)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str, secretbox: SecretBox | None = None) -> None:
    """Undo migrations down to ``revision`` (for rolling back a release)."""
    config = _config(engine, secretbox)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this WI ships."""
    return ScriptDirectory.from_config(_config_without_engine()).get_current_head()


def _config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config
