"""A WebDataset tar writer for many small members at disk speed: byte-identical to `webdataset.TarWriter`.

Measured on 18 KB face crops (bench/shards.py), `webdataset.TarWriter` writes ~100 MB/s on one core against
~540 MB/s for GNU tar: `tarfile` builds every 512-byte header in Python (~45 us a member, three members a
sample). This writer emits the same layout (USTAR headers, members of a sample in sorted field order, two
zero blocks, padding to a 10240-byte record) with one precomputed header template, so a header costs a few
microseconds. Its output equals `webdataset.TarWriter(fileobj, encoder=False, mtime=..., user=..., group=...,
mode=...)` byte for byte (tests/test_shards.py checks it); shards are read back with webdataset as usual.
"""
from __future__ import annotations

import tarfile

BLOCK = tarfile.BLOCKSIZE           # 512
RECORD = tarfile.RECORDSIZE         # 10240: tarfile pads the archive to a whole record
_ZERO = bytes(RECORD)


def _octal(value: int, width: int) -> bytes:
    """tarfile's number field: zero-padded octal, NUL-terminated."""
    return b"%0*o\0" % (width - 1, value)


class SampleTarWriter:
    """Write WebDataset samples ({"__key__": key, ext: bytes, ...}) to a binary file object.

    Output is buffered and handed to `fileobj.write` in chunks of about `chunk` bytes (fewer, larger writes).
    """

    def __init__(self, fileobj, mtime: int = 0, user: str = "bigdata", group: str = "bigdata", mode: int = 0o444,
                 chunk: int = 1 << 20):
        self.fh = fileobj
        self.offset = 0
        self.chunk = chunk
        self._parts: list[bytes] = []
        self._buffered = 0
        ref = tarfile.TarInfo("x")
        ref.size, ref.mtime, ref.mode, ref.uname, ref.gname = 0, int(mtime), mode, user, group
        # tarfile's own header for a reference member; only name, size and checksum change per member.
        t = bytearray(ref.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape"))
        t[0:100] = bytes(100)
        t[148:156] = b" " * 8                     # the checksum counts its own field as spaces
        self._base = sum(t) - sum(t[124:136])     # checksum of the template without name and size fields
        self._template = bytes(t)

    def header(self, name: str, size: int) -> bytes:
        raw = name.encode("utf-8")
        if len(raw) > 100:
            raise ValueError(f"tar member name longer than 100 bytes: {name!r}")
        size_field = _octal(size, 12)
        chksum = b"%06o\0 " % (self._base + sum(raw) + sum(size_field))
        t = self._template
        return b"".join((raw, t[len(raw):124], size_field, t[136:148], chksum, t[156:]))

    def add(self, name: str, data: bytes) -> None:
        pad = -len(data) % BLOCK
        self._parts += (self.header(name, len(data)), data, _ZERO[:pad])
        self._buffered += BLOCK + len(data) + pad
        if self._buffered >= self.chunk:
            self.flush()

    def write(self, sample: dict) -> None:
        key = sample["__key__"]
        for ext in sorted(sample):
            if not ext.startswith("_"):
                self.add(f"{key}.{ext}", sample[ext])

    def flush(self) -> None:
        if self._parts:
            self.fh.write(b"".join(self._parts))
            self.offset += self._buffered
            self._parts, self._buffered = [], 0

    def close(self) -> None:
        """End-of-archive: two zero blocks, then zeros to the next record boundary (as tarfile writes)."""
        self.flush()
        end = self.offset + 2 * BLOCK
        self.fh.write(_ZERO[:2 * BLOCK + (-end % RECORD)])
        self.offset = end + (-end % RECORD)
