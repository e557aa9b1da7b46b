"""`--output FILE`: refused up front when it cannot or must not be written, then written atomically."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from crossdock.errors import InvalidInputError
from crossdock.site_outages.cli import check_output, write_output


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory where creating a file fails: mode 0500, or, for root (who ignores modes), /sys."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return locked
    # Root ignores permission bits, but sysfs refuses new files even to root.
    sysfs = Path("/sys")
    if sysfs.is_dir():
        return sysfs
    pytest.skip("running as root without sysfs: no directory refuses writes")


def test_a_new_file_in_a_writable_directory_passes_and_leaves_nothing(tmp_path: Path) -> None:
    """The probe file used to check the directory is removed again."""
    check_output(tmp_path / "payload.json", force=False)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_refused_without_force(tmp_path: Path) -> None:
    """The old behaviour overwrote silently; now --force is needed, and the file is untouched."""
    target = tmp_path / "payload.json"
    target.write_text("keep me")
    with pytest.raises(InvalidInputError, match=r"the file exists \(pass --force to replace it\)"):
        check_output(target, force=False)
    check_output(target, force=True)
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("force", [False, True])
def test_a_symlink_is_refused_even_with_force(tmp_path: Path, force: bool) -> None:
    """A symbolic link, to a file or dangling, is refused: it could point anywhere."""
    victim = tmp_path / "victim"
    victim.write_text("secret")
    (tmp_path / "link").symlink_to(victim)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name in ("link", "dangling"):
        with pytest.raises(InvalidInputError, match="symbolic link"):
            check_output(tmp_path / name, force=force)
    assert victim.read_text() == "secret"
    assert not (tmp_path / "nowhere").exists()


def test_a_directory_is_refused(tmp_path: Path) -> None:
    """A directory path is refused by name, with or without --force."""
    with pytest.raises(InvalidInputError, match="it is a directory"):
        check_output(tmp_path, force=True)


def test_a_special_file_is_refused_even_with_force(tmp_path: Path) -> None:
    """A FIFO (like a device) is not a regular file: --force never replaces it."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInputError, match="not a regular file"):
        check_output(fifo, force=True)


@pytest.mark.parametrize(
    ("relative", "reason"),
    [("missing/payload.json", "No such file or directory"), ("file.txt/payload.json", "Not a directory")],
)
def test_an_unusable_parent_is_refused_with_the_system_reason(
    tmp_path: Path, relative: str, reason: str
) -> None:
    """A missing parent, or a parent that is a file, gives `cannot write --output '<path>': <strerror>`."""
    (tmp_path / "file.txt").write_text("x")
    target = tmp_path / relative
    with pytest.raises(InvalidInputError) as caught:
        check_output(target, force=False)
    assert caught.value.message == f"cannot write --output {str(target)!r}: {reason}"


def test_an_unwritable_directory_is_refused(tmp_path: Path) -> None:
    """A directory where no file can be created is refused before any request (probed, not guessed)."""
    target = unwritable_directory(tmp_path) / "crossdock-payload.json"
    with pytest.raises(InvalidInputError, match=r"^cannot write --output .*: Permission denied$"):
        check_output(target, force=True)


def test_a_path_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    """The path in the message is repr-quoted: a newline or escape cannot forge a second line."""
    target = tmp_path / "missing\n\x1b[2K" / "out.json"
    with pytest.raises(InvalidInputError) as caught:
        check_output(target, force=False)
    assert "\n" not in caught.value.message
    assert "\x1b" not in caught.value.message


def test_write_creates_the_file_with_the_usual_mode_and_no_temporary_left(tmp_path: Path) -> None:
    """A new file gets 0666 & ~umask (not mkstemp's 0600); only the file remains in the directory."""
    umask = os.umask(0o022)
    try:
        write_output(tmp_path / "payload.json", b"[]\n", force=False)
    finally:
        os.umask(umask)
    target = tmp_path / "payload.json"
    assert target.read_bytes() == b"[]\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [path.name for path in tmp_path.iterdir()] == ["payload.json"]


def test_write_with_force_replaces_atomically_and_keeps_the_mode(tmp_path: Path) -> None:
    """--force replaces the file by rename (a new inode, never half-written) and keeps its mode."""
    target = tmp_path / "payload.json"
    target.write_text("old")
    target.chmod(0o640)
    inode = target.stat().st_ino
    write_output(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != inode
    assert [path.name for path in tmp_path.iterdir()] == ["payload.json"]


def test_write_without_force_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    """If the file was created during the run, the write fails (FileExistsError) and leaves it alone."""
    target = tmp_path / "payload.json"
    target.write_text("someone else's")
    with pytest.raises(FileExistsError):
        write_output(target, b"ours", force=False)
    assert target.read_text() == "someone else's"
    assert [path.name for path in tmp_path.iterdir()] == ["payload.json"]


def test_write_with_force_replaces_a_link_that_appeared_not_its_target(tmp_path: Path) -> None:
    """A symlink planted after the check is replaced itself; the file it pointed to is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("secret")
    target = tmp_path / "payload.json"
    target.symlink_to(victim)
    write_output(target, b"ours", force=True)
    assert not target.is_symlink()
    assert target.read_bytes() == b"ours"
    assert victim.read_text() == "secret"


def test_write_into_a_vanished_directory_raises_oserror(tmp_path: Path) -> None:
    """A directory removed during the run makes the write fail with OSError (the CLI says it in one line)."""
    gone = tmp_path / "gone"
    with pytest.raises(FileNotFoundError):
        write_output(gone / "payload.json", b"[]", force=False)
