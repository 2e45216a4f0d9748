"""``make desk``: the review desk on this machine's data, at ``http://127.0.0.1:PORT/``, until Ctrl-C.

Starts what ``make run`` starts (Azurite with its data in ``.azurite/``, the database of
``SQL_CONNECTION_STRING``, by default ``.local/imaginem.db``, migrated) and one local Functions host, prints
``desk: http://127.0.0.1:PORT/``, and on Ctrl-C (or when the host stops) stops what it started. The desk acts
as ``DESK_USER`` with ``DESK_ROLES``; when neither is set, as the operating system's user with the
reviewer role, and says so.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import signal
import sys
import time

from devhost.quickstart import (
    LOCAL,
    SETTINGS_FILE,
    ensure_settings_file,
    local_services,
    start_host,
    stop_host,
    tail,
)
from pipeline.errors import ConfigurationError
from pipeline.setting_names import STORAGE_CONNECTION
from pipeline.settings import DESK_ROLES, DESK_USER
from pipeline.settings_file import export_settings, load_local_settings

HOST_LOG = LOCAL / "desk-host.log"
DEFAULT_ROLES = "reviewer"
_ADDRESS = re.compile(r"HTTP functions at (http://127\.0\.0\.1:\d+/)")


def default_identity(environ: dict[str, str] | os._Environ) -> str | None:
    """Set DESK_USER/DESK_ROLES to this machine's user as a reviewer when neither is configured; the user."""
    if environ.get(DESK_USER, "").strip() or environ.get(DESK_ROLES, "").strip():
        return None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "local reviewer"
    environ[DESK_USER], environ[DESK_ROLES] = user, DEFAULT_ROLES
    return user


def desk_address(log_text: str) -> str | None:
    found = _ADDRESS.search(log_text)
    return found.group(1) if found else None


def _stop_on_term(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # a terminate stops what was started, as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _stop_on_term)
    parser = argparse.ArgumentParser(prog="make desk", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    args = parser.parse_args(argv)
    try:
        ensure_settings_file()
        export_settings(load_local_settings(SETTINGS_FILE))  # the file's DESK_USER/DESK_ROLES count as set
        if default_identity(os.environ) is not None:
            print(f"make desk: acting as {os.environ[DESK_USER]!r} with the {DEFAULT_ROLES} role (set "
                  f"{DESK_USER} and {DESK_ROLES} to change)", file=sys.stderr)  # fmt: skip
        with local_services() as (settings, _database, _vision):
            host = None
            try:
                host = start_host(HOST_LOG, extra_args=("--port", str(args.port)))
                address = desk_address(HOST_LOG.read_text(encoding="utf-8", errors="replace"))
                print(f"local host running (log: {HOST_LOG}); data: {settings.sql_connection_string}",
                      file=sys.stderr)  # fmt: skip
                print(f"desk: {address}", flush=True)
                # Azurite runs on free ports: the operator CLI beside the desk (forget, review...) needs them.
                print(f"for python -m pipeline.cli in another terminal: export {STORAGE_CONNECTION}="
                      f"'{settings.storage[STORAGE_CONNECTION]}'", file=sys.stderr)  # fmt: skip
                while host.poll() is None:
                    time.sleep(0.5)
                print(f"make desk: the local host stopped; its log:\n{tail(HOST_LOG)}", file=sys.stderr)
                return 1
            finally:
                stop_host(host)
    except ConfigurationError as exc:
        for line in str(exc).splitlines():
            print(f"make desk: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmake desk: stopped the local host and Azurite", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
