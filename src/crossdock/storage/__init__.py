"""Storage layer: engine and session factories built from settings, table metadata, migrations.

Imports nothing from features. No engine is created at import time: call :func:`create_database`.
"""

from crossdock.storage.database import Database, create_database
from crossdock.storage.metadata import Base

__all__ = ["Base", "Database", "create_database"]
