"""``python -m devhost.azure_vision``: serve Computer Vision v3.2 and Face v1.0 locally until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from devhost.azure_vision.identity import IDENTITY_PATH
from devhost.azure_vision.server import AzureVisionServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devhost.azure_vision",
        description="Serve Computer Vision v3.2 and Face v1.0 locally, backed by open models.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--key", help="the subscription key clients must send (not with --disable-local-auth)"
    )
    parser.add_argument("--data", required=True, type=Path, help="directory for the face lists")
    parser.add_argument(
        "--throttle-rps", type=float, default=None, help="answer 429 past this many requests/s"
    )
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of requests answered 500")
    parser.add_argument(
        "--identity-header",
        help=f"serve the App Service managed identity endpoint at {IDENTITY_PATH} with this IDENTITY_HEADER",
    )
    parser.add_argument(
        "--disable-local-auth",
        action="store_true",
        help="refuse keys (403 AuthenticationTypeDisabled), as an account with disableLocalAuth: true does",
    )
    args = parser.parse_args(argv)
    if bool(args.key) == args.disable_local_auth:
        parser.error(
            "give --key, or --disable-local-auth (then clients need a token from the identity endpoint)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = AzureVisionServer(
        args.key,
        args.data,
        args.host,
        args.port,
        throttle_rps=args.throttle_rps,
        failure_rate=args.failure_rate,
        identity_header=args.identity_header,
        disable_local_auth=args.disable_local_auth,
    ).start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    identity = f"; managed identity at {server.endpoint}{IDENTITY_PATH}" if args.identity_header else ""
    print(f"azure vision server ready at {server.endpoint}{identity}", flush=True)
    try:
        stopping.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
