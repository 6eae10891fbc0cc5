"""`python -m dfprep.raynode start ...`: Ray's own `ray start`, kept on the address it is given.

Ray rewrites 127.0.0.1 to the host's outward IP so that other hosts can reach a node. For a test cluster of
several Ray nodes on one machine that is wrong: every node must stay on loopback. This runs Ray's CLI with
that rewrite disabled; with a real address (a cluster of hosts) it behaves exactly like `ray start`.
"""
from __future__ import annotations

import os
import sys


def is_loopback(address: str | None) -> bool:
    host = (address or "").rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def loopback_head(args: list[str]) -> bool:
    """A head started on a loopback address, given as `--node-ip-address 127.0.0.1` or `--node-ip-address=...`
    (missing the second form left the dashboard agent dialling the host's outward IP, so `ray job submit` hung)."""
    return "--head" in args and any(is_loopback(a.split("=", 1)[-1]) for a in args)


def keep_loopback() -> None:
    """Stop Ray from rewriting 127.0.0.1 to the host's outward IP in this process."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import services

    services.resolve_ip_for_localhost = lambda host: host


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if loopback_head(args):
        # a loopback-only head binds its GCS to 127.0.0.1 instead of the outward interface
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import services
    from ray.scripts import scripts

    services.resolve_ip_for_localhost = lambda host: host  # ray start refuses worker nodes without cluster mode
    return scripts.cli.main(args=args, prog_name="ray",
                            standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
