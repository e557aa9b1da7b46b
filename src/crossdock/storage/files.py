"""Files and directories Crossdock creates are private to the user running it (0700 / 0600).

The embedded database holds everything the service stores; the directory beside it holds its locks.
Only what we create is changed: an existing directory or file keeps the mode its owner gave it.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700 (whatever the umask); existing ones are kept."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # created meanwhile by another process: theirs to keep
        os.chmod(directory, DIRECTORY_MODE)


def private_file(path: Path) -> None:
    """Create an empty ``path`` readable by its owner only, unless it exists."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(descriptor)
