"""A remote object read once, forward (a shard streamed into the tar reader, a small file read whole).

pyarrow's object-store stream sends one ranged GET per `read` without a buffer, and a tar is read 512 bytes at a
time, so the stream is buffered; over http(s) it is one plain streamed GET (fsspec's block cache needs Range
requests, which simple static servers do not serve). `read(n)` returns n bytes unless the object ends first, so a
reader tells truncation from a short network read; any failure of the store is a StorageError naming the object.
"""
from __future__ import annotations

from dfprep.storage.errors import store_failures

READ_BUFFER = 8 << 20      # one ranged GET per 8 MiB on S3/GCS/HDFS


class ForwardStream:
    def __init__(self, p):
        self.p = p
        with store_failures(p):
            if p.scheme in ("http", "https"):
                import fsspec

                self.fh = fsspec.filesystem(p.scheme).open(p.uri, "rb", block_size=0)
            else:
                self.fh = p.fs.open_input_stream(p.fs_path, buffer_size=READ_BUFFER)

    def read(self, n: int = -1) -> bytes:
        with store_failures(self.p):
            if n is None or n < 0:
                return self.fh.read()
            parts, got = [], 0
            while got < n:
                data = self.fh.read(n - got)
                if not data:
                    break
                parts.append(data)
                got += len(data)
            return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        try:
            self.fh.close()
        except Exception:  # noqa: BLE001 - closing a stream whose store went away
            pass

    def __enter__(self) -> "ForwardStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
