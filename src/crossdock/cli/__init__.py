"""The ``crossdock`` command line (Typer): thin commands that call service functions."""
