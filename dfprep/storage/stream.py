"""A remote object read once, forward (a shard streamed into the tar reader, a small file read whole).

pyarrow's object-store stream sends one ranged GET per `read` without a buffer, and a tar is read 512 bytes at a
time, so the stream is buffered; over http(s) it is one plain streamed GET (fsspec's block cache needs Range
requests, which simple static servers do not serve). `read(n)` returns n bytes unless the object ends first, so a
reader tells truncation from a short network read; any failure of the store is a StorageError naming the object.
"""
from __future__ import annotations

from dfprep.storage.errors import store_failures

READ_BUFFER = 8 << 20      # one ranged GET per 8 MiB on S3/GCS/HDFS
CHUNK = 1 << 20            # bytes asked of the client per call


class ForwardStream:
    def __init__(self, p):
        self.p, self.buf, self.pos = p, bytearray(), 0
        with store_failures(p):
            if p.scheme in ("http", "https"):
                import fsspec

                self.fh = fsspec.filesystem(p.scheme).open(p.uri, "rb", block_size=0)
            else:
                self.fh = p.fs.open_input_stream(p.fs_path, buffer_size=READ_BUFFER)

    def read(self, n: int = -1) -> bytes:
        """n bytes (fewer only at the end); served from a local buffer refilled a chunk at a time, since a tar
        reader asks for 512 bytes at a time and each call into a client (an event loop round trip over http)
        costs far more than the copy."""
        with store_failures(self.p):
            if n is None or n < 0:
                out = bytes(self.buf[self.pos:]) + self.fh.read()
                self.buf, self.pos = bytearray(), 0
                return out
            while len(self.buf) - self.pos < n:
                data = self.fh.read(max(CHUNK, n))
                if not data:
                    break
                if self.pos:                    # compact only when refilling: a read is a slice, not a copy
                    del self.buf[:self.pos]
                    self.pos = 0
                self.buf += data
            end = min(self.pos + n, len(self.buf))
            out = bytes(self.buf[self.pos:end])
            self.pos = end
            return out

    def close(self) -> None:
        try:
            self.fh.close()
        except Exception:  # noqa: BLE001 - closing a stream whose store went away
            pass

    def __enter__(self) -> "ForwardStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
