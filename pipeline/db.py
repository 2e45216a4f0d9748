"""SQL through pyodbc: one connection string, two dialects (SQLite locally, Azure SQL in production).

The dialect follows from the ODBC driver named in the connection string. Schema changes are ordered
migration files under ``infra/sql/<dialect>/``; :meth:`Database.upgrade` applies the missing ones under
a database-wide lock, so it is safe to run twice or from several processes at once.
"""

from __future__ import annotations

import logging
import random
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyodbc

from pipeline.errors import ConfigurationError, DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "infra" / "sql"
# msodbcsql.h: pre-connect attribute that takes a Microsoft Entra access token instead of credentials.
SQL_COPT_SS_ACCESS_TOKEN = 1256
SQL_TOKEN_SCOPE = "https://database.windows.net/.default"
# Our keyword (not the driver's): sign in with the Azure identity of the environment — `az login` on an
# operator's machine — through an access token, which ODBC Driver 18 accepts on every platform.
_DEFAULT_CREDENTIAL = re.compile(r"authentication\s*=\s*activedirectorydefault\s*;?", re.IGNORECASE)
_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_GO_LINE = re.compile(r"^\s*GO\s*$", re.IGNORECASE | re.MULTILINE)
# SQLite shared by several processes: a writer waits for the write lock up to the busy timeout (the SQLite ODBC
# driver's ``Timeout=`` option, in ms; 100000 when absent; the driver was seen waiting about twice it), then
# gets SQLITE_BUSY/SQLITE_LOCKED. Where nothing of the transaction has happened yet (its BEGIN, a single
# statement) or SQLite keeps it open (its COMMIT), the attempt is repeated, backing off, for this long before
# the error reaches the job.
BUSY_RETRY_SECONDS = 120.0
_BUSY = ("database is locked", "database table is locked")


@dataclass(frozen=True)
class Dialect:
    name: str
    # Taken at the start of a migration so concurrent upgraders queue up instead of racing (SQLite's
    # BEGIN IMMEDIATE already serialises writers).
    migration_lock: str | None
    # Runs before every transaction (SQLite: take the write lock up front, so two writers never
    # deadlock upgrading a read lock).
    begin: str | None
    # Idempotent DDL for the table that records applied migrations.
    version_table: str
    # Taken by every transaction that regroups persons, so two never regroup the same faces at once (SQLite:
    # none needed, BEGIN IMMEDIATE already serialises writers).
    persons_lock: str | None
    # What follows ``ORDER BY`` to return one page, its parameters given by ``page_parameters``.
    page_clause: str
    page_limit_first: bool

    def page_parameters(self, limit: int, offset: int) -> list[int]:
        return [limit, offset] if self.page_limit_first else [offset, limit]

    def split(self, script: str) -> list[str]:
        """Statements of a migration file: T-SQL batches separated by GO lines, SQLite statements by ';'."""
        if self.name == "tsql":
            parts = _GO_LINE.split(script)
        else:
            parts = re.split(r";\s*$", script, flags=re.MULTILINE)
        # Comments go: the SQLite ODBC driver counts a ';' inside a comment as a second statement.
        statements = (_strip_comments(part).strip() for part in parts)
        return [statement for statement in statements if statement]


SQLITE = Dialect(
    name="sqlite",
    migration_lock=None,
    begin="BEGIN IMMEDIATE",
    version_table=(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    ),
    persons_lock=None,
    page_clause=" LIMIT ? OFFSET ?",
    page_limit_first=True,
)
TSQL = Dialect(
    name="tsql",
    migration_lock=(
        "DECLARE @result INT; EXEC @result = sp_getapplock @Resource = 'imaginem-migrations', "
        "@LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 60000; "
        "IF @result < 0 THROW 50000, 'could not take the migration lock', 1;"
    ),
    begin=None,
    version_table=(
        "IF OBJECT_ID(N'dbo.schema_migrations', N'U') IS NULL "
        "CREATE TABLE dbo.schema_migrations (version INT NOT NULL PRIMARY KEY, name NVARCHAR(200) NOT NULL, "
        "applied_at DATETIME2(3) NOT NULL CONSTRAINT df_schema_migrations_applied DEFAULT SYSUTCDATETIME())"
    ),
    persons_lock=(
        "DECLARE @result INT; EXEC @result = sp_getapplock @Resource = 'imaginem-persons', "
        "@LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 30000; "
        "IF @result < 0 THROW 50000, 'could not take the persons lock', 1;"
    ),
    page_clause=" OFFSET ? ROWS FETCH NEXT ? ROWS ONLY",
    page_limit_first=False,
)


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _driver(connection_string: str) -> str:
    match = re.search(r"driver\s*=\s*\{?([^;}]+)", connection_string, re.IGNORECASE)
    return (match.group(1) if match else "").strip()


def dialect_for(connection_string: str) -> Dialect:
    driver = _driver(connection_string).lower()
    if "sqlite" in driver:
        return SQLITE
    if "sql server" in driver:
        return TSQL
    raise ConfigurationError(
        "SQL_CONNECTION_STRING must name its ODBC driver: 'Driver=SQLite3;...' locally or "
        "'Driver={ODBC Driver 18 for SQL Server};...' for Azure SQL"
    )


def check_connection_string(connection_string: str) -> Dialect:
    """The dialect of a connection string whose ODBC driver is installed here; checked without connecting."""
    dialect = dialect_for(connection_string)
    driver = _driver(connection_string)
    installed = pyodbc.drivers()
    if driver.lower() not in {name.lower() for name in installed}:
        raise ConfigurationError(
            f"SQL_CONNECTION_STRING names the ODBC driver {driver!r}, which is not installed here "
            f"(installed: {', '.join(installed) or 'none'}); fix the name or install the driver"
        )
    return dialect


def _create_sqlite_folder(connection_string: str) -> None:
    """SQLite creates a missing database file but not its folder (e.g. a fresh clone's .local/)."""
    match = re.search(r"database\s*=\s*([^;]+)", connection_string, re.IGNORECASE)
    if match:
        Path(match.group(1).strip()).parent.mkdir(parents=True, exist_ok=True)


def token_struct(token: str) -> bytes:
    """The ACCESSTOKEN structure the SQL Server driver expects: length-prefixed UTF-16-LE token bytes."""
    encoded = token.encode("utf-16-le")
    return struct.pack(f"<I{len(encoded)}s", len(encoded), encoded)


def connect_arguments(connection_string: str) -> tuple[str, dict[int, bytes]]:
    """The connection string for the driver, and pre-connect attributes (an Entra token when asked for)."""
    if not _DEFAULT_CREDENTIAL.search(connection_string):
        return connection_string, {}
    from azure.identity import DefaultAzureCredential

    token = DefaultAzureCredential().get_token(SQL_TOKEN_SCOPE).token
    return _DEFAULT_CREDENTIAL.sub("", connection_string), {SQL_COPT_SS_ACCESS_TOKEN: token_struct(token)}


def migration_files(dialect: Dialect) -> list[tuple[int, Path]]:
    folder = MIGRATIONS_ROOT / dialect.name
    files = []
    for path in sorted(folder.iterdir()):
        match = _MIGRATION_FILE.match(path.name)
        if match:
            files.append((int(match.group(1)), path))
    return files


def is_busy(error: BaseException) -> bool:
    """Whether a driver error is SQLite's "another connection holds the lock" (SQLITE_BUSY, SQLITE_LOCKED)."""
    return isinstance(error, pyodbc.Error) and any(text in str(error) for text in _BUSY)


def retry_busy(action: Callable[[], T], what: str, budget: float = BUSY_RETRY_SECONDS) -> T:
    """``action()``, repeated with jittered backoff while SQLite answers busy, for at most ``budget`` s."""
    started = time.monotonic()
    delay, retries = 0.005, 0
    while True:
        try:
            result = action()
        except pyodbc.Error as error:
            if not is_busy(error) or time.monotonic() + delay - started > budget:
                raise
            time.sleep(random.uniform(delay / 2, delay))
            delay, retries = min(delay * 2, 0.5), retries + 1
            continue
        if retries:
            # Worth a line: a lock held this long (past the busy timeout) slows every writer down.
            log.info(
                "SQLite %s waited %.1f s for another connection's write lock (%d retries)",
                what, time.monotonic() - started, retries,
            )  # fmt: skip
        return result


class Database:
    """Thread-safe access: each thread keeps its own connection, reopened after a failure.

    With SQLite, a writer that meets another process's write lock waits (busy timeout) and retries
    (:func:`retry_busy`), so "database is locked" does not reach a job while the lock is only held briefly.
    """

    def __init__(self, connection_string: str) -> None:
        self.connection_string = connection_string
        self.dialect = dialect_for(connection_string)
        self._local = threading.local()

    def _connection(self) -> pyodbc.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self.dialect is SQLITE:
                _create_sqlite_folder(self.connection_string)
            connection_string, attributes = connect_arguments(self.connection_string)
            connection = pyodbc.connect(
                connection_string, autocommit=True, timeout=30, attrs_before=attributes
            )
            if self.dialect is SQLITE:
                connection.execute("PRAGMA foreign_keys = ON")
                # Switching to WAL needs a moment alone with the file: busy while another process writes.
                retry_busy(lambda: connection.execute("PRAGMA journal_mode = WAL").fetchall(), "journal mode")
            self._local.connection = connection
        return connection

    def _discard_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with suppress(pyodbc.Error):
                connection.close()

    def check(self) -> None:
        """Connect now: :class:`DatabaseUnavailable` in one line when the database cannot be reached."""
        try:
            self.query("SELECT 1")
        except pyodbc.Error as exc:
            reason = str(exc.args[-1] if exc.args else exc).splitlines()[0]
            raise DatabaseUnavailable(
                f"cannot reach the database (SQL_CONNECTION_STRING): {reason[:300]}"
            ) from None

    def close(self) -> None:
        self._discard_connection()

    @contextmanager
    def transaction(self) -> Iterator[pyodbc.Cursor]:
        """One atomic unit of work; rolled back (and the connection replaced) on any error."""
        connection = self._connection()
        cursor = connection.cursor()
        try:
            if self.dialect.begin:
                retry_busy(lambda: cursor.execute(self.dialect.begin), "BEGIN")
            else:
                connection.autocommit = False
            if self.dialect is TSQL:
                cursor.fast_executemany = True
            yield cursor
            if self.dialect.begin:
                # A busy COMMIT leaves the transaction open, so it can be repeated.
                retry_busy(lambda: cursor.execute("COMMIT"), "COMMIT")
            else:
                connection.commit()
        except BaseException:
            try:
                if self.dialect.begin:
                    cursor.execute("ROLLBACK")
                else:
                    connection.rollback()
            except pyodbc.Error:
                pass
            self._discard_connection()
            raise
        finally:
            if not self.dialect.begin and getattr(self._local, "connection", None) is connection:
                connection.autocommit = True

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        """Run one statement and return (column names, rows)."""
        try:
            cursor = self._connection().cursor()
            # One statement in autocommit: a busy one changed nothing, so running it again is safe.
            retry_busy(lambda: cursor.execute(sql, *params) if params else cursor.execute(sql), "statement")
            if cursor.description is None:
                return [], []
            columns = [column[0] for column in cursor.description]
            return columns, [tuple(row) for row in cursor.fetchall()]
        except pyodbc.Error:
            self._discard_connection()
            raise

    def upgrade(self) -> list[int]:
        """Apply the dialect's missing migrations in order; returns the versions applied by this call."""
        applied_now: list[int] = []
        for version, path in migration_files(self.dialect):
            with self.transaction() as cursor:
                if self.dialect.migration_lock:
                    cursor.execute(self.dialect.migration_lock)
                cursor.execute(self.dialect.version_table)
                if version in self._applied_versions(cursor):
                    continue
                log.info("applying SQL migration %s", path.name)
                for statement in self.dialect.split(path.read_text(encoding="utf-8")):
                    cursor.execute(statement)
                cursor.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", version, path.name
                )
                applied_now.append(version)
        return applied_now

    @staticmethod
    def _applied_versions(cursor: pyodbc.Cursor) -> set[int]:
        return {row[0] for row in cursor.execute("SELECT version FROM schema_migrations").fetchall()}
