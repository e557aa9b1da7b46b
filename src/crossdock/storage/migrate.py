"""Apply Alembic migrations programmatically (``crossdock db upgrade`` and ``serve`` on SQLite).

Alembic's API is synchronous and our ``env.py`` runs its own event loop, so from async code call
:func:`upgrade_async`, which runs the upgrade in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from crossdock.errors import StorageError
from crossdock.storage.database import describe_url, ensure_sqlite_directory

if TYPE_CHECKING:
    from alembic.config import Config

StepCallback = Callable[[str, int, int], None]
"""Called after each applied migration with (revision message, index, total)."""


def alembic_config(url: str) -> Config:
    # Alembic is imported only when migrating: it costs a fifth of the CLI's start-up otherwise.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "crossdock.storage:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def pending_revisions(config: Config) -> list[str]:
    """All revisions from base to head, in order (used to size the progress bar)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def upgrade(url: str, *, on_step: StepCallback | None = None) -> int:
    """Upgrade the database at ``url`` to the newest revision; return how many revisions exist."""
    ensure_sqlite_directory(url)
    config = alembic_config(url)
    total = len(pending_revisions(config))
    applied = 0

    def _on_version_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        nonlocal applied
        applied += 1
        if on_step is not None:
            on_step(str(step.up_revision.doc or step.up_revision_id), applied, total)

    config.attributes["configure_options"] = {"on_version_apply": _on_version_apply}
    from alembic import command

    try:
        command.upgrade(config, "head")
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"migrating {describe_url(url)} failed: {exc}") from exc
    return total


async def upgrade_async(url: str, *, on_step: StepCallback | None = None) -> int:
    return await asyncio.to_thread(upgrade, url, on_step=on_step)
