"""``crossdock simulate``: each listed capability's fake upstream, as one sub-command per simulator.

The commands themselves live in the capabilities (``<capability>/simulator/cli.py``); this module only
mounts them, in the order of the capability list.
"""

from __future__ import annotations

import typer

from crossdock.capabilities import CAPABILITIES

app = typer.Typer(
    help="Run fake upstream APIs with fault injection (for demos, tests and benchmarks).",
    no_args_is_help=True,
)


@app.callback()
def simulate() -> None:
    """Run fake upstream APIs with fault injection (for demos, tests and benchmarks)."""
    # A callback keeps each simulator a sub-command (`crossdock simulate <name>`) even if only one exists.


for _capability in CAPABILITIES:
    if _capability.simulator is not None:
        app.command(name=_capability.simulator.name)(_capability.simulator.command)
