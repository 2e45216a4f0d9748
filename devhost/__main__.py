"""``python -m devhost``: serve ``function_app.app`` locally until SIGINT/SIGTERM.

Settings come from ``local.settings.json`` ``Values`` with the environment taking precedence
(``PIPELINE_STEPS=a,b make run``); they are exported to ``os.environ`` before the app module is
imported, because the app reads its configuration from the environment as it does in Azure.

``--azurite DIR`` also starts the repo's Azurite with its data in ``DIR`` and points
``AzureWebJobsStorage`` (and every setting whose value is ``UseDevelopmentStorage=true``) at it,
using a fresh random account key; it prints ``AzureWebJobsStorage=<connection string>`` so that the
operator CLI (``python -m pipeline.cli``) can reach the same storage from another terminal. Without
``--azurite``, ``AzureWebJobsStorage`` must name storage that is running: the host checks it within
seconds and exits with one line if it cannot be reached.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from devhost.azurite import REPO_ROOT, Azurite, AzuriteError
from devhost.host import HOST_STORAGE_SETTING, LocalHost
from devhost.indexing import HostStartupError
from devhost.queues import DEFAULT_MESSAGE_LEASE
from devhost.settings import http_route_prefix, load_host_json
from pipeline.errors import ConfigurationError
from pipeline.settings_file import export_settings, load_local_settings

_DEV_STORAGE = "usedevelopmentstorage=true"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="function_app", help="module[:attribute] of the FunctionApp")
    parser.add_argument(
        "--settings", type=Path, help="settings file (default: local.settings.json, if present)"
    )
    parser.add_argument("--host-json", type=Path, default=REPO_ROOT / "host.json")
    parser.add_argument("--port", type=int, default=7071, help="HTTP port; 0 picks a free one")
    parser.add_argument("--azurite", type=Path, metavar="DIR", help="start Azurite with its data in DIR")
    parser.add_argument("--azurite-blob-port", type=int, help="fixed Azurite blob port (default: free port)")
    parser.add_argument(
        "--azurite-queue-port", type=int, help="fixed Azurite queue port (default: free port)"
    )
    parser.add_argument(
        "--message-lease",
        type=float,
        default=DEFAULT_MESSAGE_LEASE,
        metavar="SECONDS",
        help="how long a received queue message stays hidden, renewed while it runs (Azure: 600); "
        "after a crash its messages come back this much later",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _use_azurite(settings: dict[str, str], azurite: Azurite) -> None:
    """Point host storage and development-storage settings at the Azurite we started."""
    for key, value in list(settings.items()):
        if key == HOST_STORAGE_SETTING or value.strip().lower() == _DEV_STORAGE:
            settings[key] = os.environ[key] = azurite.connection_string
    settings.setdefault(HOST_STORAGE_SETTING, azurite.connection_string)
    os.environ.setdefault(HOST_STORAGE_SETTING, azurite.connection_string)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Quiet the storage SDK's per-request logging; our own logger reports what matters.
    logging.getLogger("azure").setLevel(logging.WARNING)
    sys.path.insert(0, str(REPO_ROOT))
    azurite: Azurite | None = None
    try:
        settings = load_local_settings(
            args.settings or REPO_ROOT / "local.settings.json", required=args.settings is not None
        )
        export_settings(settings)
        host_json = load_host_json(args.host_json)
        if args.azurite is not None:
            azurite = Azurite(
                args.azurite, blob_port=args.azurite_blob_port, queue_port=args.azurite_queue_port
            )
            azurite.start()
            _use_azurite(settings, azurite)
            print(f"Azurite: blob {azurite.blob_endpoint}, queue {azurite.queue_endpoint}", flush=True)
            # For the operator CLI in another terminal: `export AzureWebJobsStorage='<this value>'`.
            print(f"{HOST_STORAGE_SETTING}={azurite.connection_string}", flush=True)
        host = LocalHost(args.app, settings, host_json, http_port=args.port, message_lease=args.message_lease)
        drained = host.run_forever(on_ready=lambda: _announce(host, http_route_prefix(host_json)))
    except (ConfigurationError, HostStartupError, AzuriteError) as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 1
    finally:
        if azurite is not None:
            azurite.stop()
    if not drained:
        # Abandoned invocations keep worker threads alive, and Python would wait for them at exit.
        logging.shutdown()
        os._exit(0)
    return 0


def _announce(host: LocalHost, prefix: str) -> None:
    if any(spec.trigger_type == "httpTrigger" for spec in host.functions):
        # Loopback only: authLevel is not enforced locally.
        print(
            f"HTTP functions at http://127.0.0.1:{host.http_port}/{prefix + '/' if prefix else ''}",
            flush=True,
        )
    functions = ", ".join(host.describe())
    print(f"Local Functions host ready: {len(host.functions)} functions ({functions})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
