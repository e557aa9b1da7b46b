"""``python -m crossdock`` runs the CLI."""

from crossdock.cli.main import run

run()
