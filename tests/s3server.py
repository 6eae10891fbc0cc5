"""A real S3-compatible server on 127.0.0.1 for the object-storage tests: moto's standalone server, started and
stopped by the fixtures (as the s3fs and pyarrow test suites do). Nothing leaves the machine."""
from __future__ import annotations

import logging
import os
import socket
import uuid

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true", "DFPREP_STORAGE_TIMEOUT_S": "10"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's ThreadedMotoServer on a fixed port: stop() and start() again keep the buckets (moto's backends
    live in this process), which is how a test takes the store away mid-run and brings it back."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._cls = ThreadedMotoServer
        self._server = None

    def start(self) -> "S3Server":
        self._server = self._cls(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def env(self) -> dict:
        return {**ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def new_bucket(self, prefix: str = "dfprep") -> str:
        import pyarrow.fs as pafs

        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        fs = pafs.S3FileSystem(endpoint_override=self.endpoint, region="us-east-1", allow_bucket_creation=True,
                               access_key=ENV["AWS_ACCESS_KEY_ID"], secret_key=ENV["AWS_SECRET_ACCESS_KEY"])
        fs.create_dir(name)
        return name


def apply_env(server: S3Server) -> dict:
    """Point this process (and the Ray workers and CLI subprocesses it starts) at the server; returns the old
    values to restore."""
    old = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    return old


def restore_env(old: dict) -> None:
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
