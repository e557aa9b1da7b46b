"""Apply Alembic migrations programmatically (``crossdock db upgrade`` and ``serve`` on SQLite).

Revisions live in one folder per owner: the core's under ``storage/migrations/versions`` and each
capability's in the folder its manifest names, as an Alembic branch labelled with its name; the
upgrade goes to every head. A database that holds some of our tables but no migration record is
refused with a one-line error (its tables were not created by a migration, so no revision knows
their state).

Alembic's API is synchronous and our ``env.py`` runs its own event loop, so from async code call
:func:`upgrade_async`, which runs the upgrade in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from crossdock.errors import StorageError
from crossdock.storage.database import describe_url, ensure_sqlite_directory

if TYPE_CHECKING:
    from alembic.config import Config

StepCallback = Callable[[str, int, int], None]
"""Called after each applied migration with (revision message, index, total)."""

CORE_VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
CORE_LEGACY_TABLES = ("job_runs",)
VERSION_TABLE = "alembic_version"


def load_models() -> None:
    """Import every table of the core and of each listed capability into the shared metadata."""
    from crossdock.capabilities import CAPABILITIES
    from crossdock.jobs import models as _job_models  # noqa: F401  (registers the run record)
    from crossdock.observability import models as _observability_models  # noqa: F401

    for capability in CAPABILITIES:
        for model in capability.models:
            assert model.__table__ is not None  # importing the manifest registered it


def version_locations() -> list[Path]:
    """The core's revision folder and each listed capability's."""
    from crossdock.capabilities import CAPABILITIES

    return [CORE_VERSIONS, *(c.migrations for c in CAPABILITIES if c.migrations is not None)]


def known_tables() -> set[str]:
    """Every table name Crossdock creates now or created in earlier versions."""
    from crossdock.capabilities import CAPABILITIES
    from crossdock.storage.metadata import Base

    load_models()
    legacy = {name for capability in CAPABILITIES for name in capability.legacy_tables}
    return set(Base.metadata.tables) | legacy | set(CORE_LEGACY_TABLES)


def refuse_unmigrated(connection: Connection, url: str) -> None:
    """Raise :class:`StorageError` if the database holds our tables but no migration record."""
    present = set(inspect(connection).get_table_names())
    if VERSION_TABLE in present:
        return
    ours = sorted(present & known_tables())
    if ours:
        raise StorageError(
            f"database {describe_url(url)} holds Crossdock tables ({', '.join(ours)}) but no migration "
            f"record ({VERSION_TABLE}), so they cannot be upgraded: point CROSSDOCK_DATABASE_URL at an "
            "empty database, or drop those tables if their data is not needed, then run "
            "`crossdock db upgrade` again"
        )


def alembic_config(url: str) -> Config:
    # Alembic is imported only when migrating: it costs a fifth of the CLI's start-up otherwise.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "crossdock.storage:migrations")
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join(str(path) for path in version_locations()).replace("%", "%%")
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["before_migrations"] = refuse_unmigrated
    return config


def all_revisions(config: Config) -> list[str]:
    """Every revision of every branch, bases first (used to size the progress bar)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def upgrade(url: str, *, on_step: StepCallback | None = None) -> int:
    """Upgrade the database at ``url`` to the newest revision of every branch; return how many exist."""
    ensure_sqlite_directory(url)
    config = alembic_config(url)
    total = len(all_revisions(config))
    applied = 0

    def _on_version_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        nonlocal applied
        applied += 1
        if on_step is not None:
            on_step(str(step.up_revision.doc or step.up_revision_id), applied, total)

    config.attributes["configure_options"] = {"on_version_apply": _on_version_apply}
    from alembic import command

    try:
        command.upgrade(config, "heads")
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"migrating {describe_url(url)} failed: {exc}") from exc
    return total


async def upgrade_async(url: str, *, on_step: StepCallback | None = None) -> int:
    return await asyncio.to_thread(upgrade, url, on_step=on_step)
