"""What a capability contributes to the console: one page (and the routes behind it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter


@dataclass(frozen=True, slots=True)
class ConsolePage:
    """A capability's console page.

    - ``title``: its name in the navigation;
    - ``path``: where it lives (``/console/<capability name>``), linked from the navigation;
    - ``router``: factory of its routes (the page, its fragments and actions), each declared with
      :func:`crossdock.console.session.console_access`;
    - ``templates``: the folder of its Jinja templates (named ``<capability>/….html`` inside).
    """

    title: str
    path: str
    router: Callable[[], APIRouter]
    templates: Path
