"""After deployment: make the Function App's identity a database user, then apply infra/sql migrations.

    python infra/scripts/sql_setup.py --server <sqlServerFqdn> --database imaginem --app <functionAppName>

Run it as the SQL server's Microsoft Entra administrator (the user or a member of the group named by the
template's sqlAdminLogin), signed in with ``az login``, from an address listed in sqlClientIpAddresses. It is
idempotent: run it again after every deployment that brings new migrations.

Why a script and not the template: ARM cannot create database users, and a deployment script resource would
need a storage account with shared-key access. Why a token: the server accepts Microsoft Entra sign-ins only,
and ODBC Driver 18 on Linux and macOS has no interactive Entra sign-in, so the script hands the driver an
access token (SQL_COPT_SS_ACCESS_TOKEN) for the signed-in ``az`` account. The migrations then run through the
very same command as locally, ``python -m pipeline.cli db-upgrade``, with that token injected.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from pipeline.db import SQL_COPT_SS_ACCESS_TOKEN, SQL_TOKEN_SCOPE, token_struct  # noqa: E402

# The app's identity reads and writes rows; it runs no DDL (migrations run here, as the administrator).
APP_ROLES = ("db_datareader", "db_datawriter")

# The user name is passed as a parameter and quoted with QUOTENAME on the server, never formatted into SQL.
CREATE_USER = """
DECLARE @name sysname = ?;
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = @name)
BEGIN
    DECLARE @create nvarchar(max) = N'CREATE USER ' + QUOTENAME(@name) + N' FROM EXTERNAL PROVIDER';
    EXEC (@create);
END
"""
ADD_ROLE_MEMBER = """
DECLARE @name sysname = ?, @role sysname = ?;
DECLARE @alter nvarchar(max) = N'ALTER ROLE ' + QUOTENAME(@role) + N' ADD MEMBER ' + QUOTENAME(@name);
EXEC (@alter);
"""


def connection_string(server: str, database: str) -> str:
    """ODBC Driver 18 connection string without credentials: the token is passed as a connection attribute."""
    return (
        "Driver={ODBC Driver 18 for SQL Server};"
        f"Server=tcp:{server},1433;Database={database};"
        "Encrypt=yes;TrustServerCertificate=no;Connection Timeout=60"
    )


def entra_token() -> str:
    """An access token for Azure SQL for the account signed in with ``az login``."""
    from azure.identity import AzureCliCredential

    return AzureCliCredential().get_token(SQL_TOKEN_SCOPE).token


def with_token(connect: Callable, token: bytes) -> Callable:
    """Wrap ``pyodbc.connect`` so every connection the pipeline opens signs in with ``token``."""

    def connect_with_token(*args, **kwargs):
        attrs = dict(kwargs.pop("attrs_before", None) or {})
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = token
        return connect(*args, attrs_before=attrs, **kwargs)

    return connect_with_token


def ensure_app_user(connection, app_name: str) -> None:
    """Create the database user of the app's managed identity (its display name is the app's name)."""
    cursor = connection.cursor()
    cursor.execute(CREATE_USER, app_name)
    for role in APP_ROLES:
        cursor.execute(ADD_ROLE_MEMBER, app_name, role)
    connection.commit()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", required=True, help="SQL server host name (deployment output sqlServerFqdn)"
    )
    parser.add_argument("--database", default="imaginem", help="database name (output sqlDatabaseName)")
    parser.add_argument("--app", required=True, help="Function App name (output functionAppName)")
    args = parser.parse_args(argv)

    import pyodbc

    from pipeline import cli

    pyodbc.connect = with_token(pyodbc.connect, token_struct(entra_token()))
    connection = pyodbc.connect(connection_string(args.server, args.database), timeout=60)
    try:
        ensure_app_user(connection, args.app)
    finally:
        connection.close()
    print(f"database user [{args.app}]: {', '.join(APP_ROLES)}", file=sys.stderr)

    # The same migrations, bookkeeping and lock as `make db-upgrade` locally.
    os.environ["SQL_CONNECTION_STRING"] = connection_string(args.server, args.database)
    return cli.main(["db-upgrade"])


if __name__ == "__main__":
    sys.exit(main())
