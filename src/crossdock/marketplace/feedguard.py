"""What libxml2 reads of the marketplace feed: the bytes, with any overlong run cut short.

libxml2 builds a token (a tag with its attributes, or a text) whole before the parser sees it, so a
single 20 MB title would cost its size several times over, whatever the parser does after. The
:class:`RunGuard` passes the feed through at C speed and cuts the middle out of any run between two
``<`` longer than a bound, in a way that keeps the document well-formed where it can.
"""

from __future__ import annotations

from typing import Protocol

READ_SIZE = 32 * 1024
"""Bytes read from the source at a time."""


class Readable(Protocol):
    """Anything with a binary ``read(size)``: a file, a buffer, a progress-reporting wrapper."""

    def read(self, size: int = -1, /) -> bytes: ...


_CONTINUATION = 0x80  # 0b10xxxxxx: the middle of a UTF-8 character
_CUT_UNSAFE_ENDS = b"]-?"  # would join what follows into "]]>", "--" or "?>"


class RunGuard:
    """Reads the feed for the parser, cutting the middle out of any run longer than ``max_run``.

    A run is what lies between two ``<``: one tag with its attributes, or one text. libxml2 builds a
    token whole before anything sees it (an attribute value even past its own 10 MB limit, which it
    only reports at the end), so a 20 MB title would cost its size several times over. A longer run
    is passed as its first half, ``mark``, and its last half: the value it lies in stays well-formed
    and becomes longer than the field limit, so its record is rejected. A cut that cannot stay
    well-formed (in a tag name, between attributes) fails the feed as not well-formed, still without
    holding the run. Normal feeds pass unchanged, at C speed.
    """

    def __init__(self, raw: Readable, *, max_run: int, mark: bytes) -> None:
        self._raw = raw
        self._mark = mark
        self._pass = max_run // 2  # bytes of a run passed on before holding what follows
        self._limit = max_run
        self._keep = max_run // 2  # bytes kept at the end of a cut run
        self._run = 0  # bytes of the current run seen so far
        self._held: bytearray | None = None  # bytes of the current run past ``_pass``, not passed yet
        self._cutting = False
        self.position = 0  # bytes passed to the parser
        self.cuts = 0

    def read(self, size: int = -1, /) -> bytes:
        while True:
            chunk = self._raw.read(size if size > 0 else READ_SIZE)
            if not chunk:
                out = self._flush()
                self.position += len(out)
                return out
            out = self._filter(chunk)
            if out:
                self.position += len(out)
                return out
            # The whole chunk was held (a long run goes on): an empty answer would mean the end.

    def _filter(self, chunk: bytes) -> bytes:
        if self._held is None:
            window = self._pass - self._run
            if window >= len(chunk):
                # The usual case: the run cannot reach the limit in this chunk.
                last = chunk.rfind(b"<")
                self._run = len(chunk) - last - 1 if last >= 0 else self._run + len(chunk)
                return chunk
        out: list[bytes] = []
        start = 0  # first byte of ``chunk`` not passed on or held yet
        n = len(chunk)
        position = 0
        while position < n:
            if self._held is None:
                end = min(n, position + self._pass - self._run)
                last = chunk.rfind(b"<", position, end)
                self._run = end - last - 1 if last >= 0 else self._run + end - position
                position = end
                if self._run >= self._pass:
                    out.append(chunk[start:position])
                    start = position
                    self._held = bytearray()
                continue
            # Holding: up to the run's end, in this chunk or a later one.
            stop = chunk.find(b"<", position)
            end = n if stop < 0 else stop
            self._held += chunk[position:end]
            self._run += end - position
            position = start = end
            if not self._cutting and self._run > self._limit:
                cut = safe_cut(self._held, 64)
                out.append(bytes(self._held[:cut]))
                out.append(self._mark)
                del self._held[:cut]
                self.cuts += 1
                self._cutting = True
            if self._cutting and len(self._held) > self._keep:
                del self._held[: len(self._held) - self._keep]
            if stop >= 0:
                out.append(self._flush())
        out.append(chunk[start:])
        return b"".join(out)

    def _flush(self) -> bytes:
        """The held end of the current run (which just ended), and a fresh run."""
        held, cutting = self._held, self._cutting
        self._held, self._cutting, self._run = None, False, 0
        if held is None:
            return b""
        skip = 0
        if cutting:
            # The kept end starts where the cut fell: drop the rest of a character cut in two.
            while skip < min(len(held), 3) and held[skip] & 0xC0 == _CONTINUATION:
                skip += 1
        return bytes(held[skip:])


def safe_cut(held: bytearray, at: int) -> int:
    """A position near ``at`` where ``held`` can be cut: not inside a UTF-8 character or an entity
    reference, not after a character that would join the mark into a closing sequence."""
    cut = min(at, len(held))
    while cut > 0 and cut < len(held) and held[cut] & 0xC0 == _CONTINUATION:
        cut -= 1
    while True:
        amp = held.rfind(b"&", max(0, cut - 32), cut)
        if amp >= 0 and held.find(b";", amp, cut) < 0:
            cut = amp
        while cut > 0 and held[cut - 1] in _CUT_UNSAFE_ENDS:
            cut -= 1
        amp = held.rfind(b"&", max(0, cut - 32), cut)
        if amp < 0 or held.find(b";", amp, cut) >= 0:
            return cut
