"""infra/scripts/sql_setup.py: the post-deployment database step, without a database."""

from __future__ import annotations

import importlib.util
import struct

from tests.infra.templates import INFRA

spec = importlib.util.spec_from_file_location("sql_setup", INFRA / "scripts" / "sql_setup.py")
sql_setup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sql_setup)


class FakeCursor:
    def __init__(self, log):
        self.log = log

    def execute(self, sql, *params):
        self.log.append((sql, params))


class FakeConnection:
    def __init__(self):
        self.log = []
        self.committed = False

    def cursor(self):
        return FakeCursor(self.log)

    def commit(self):
        self.committed = True


def test_token_is_packed_as_the_driver_expects():
    packed = sql_setup.token_struct("abc")
    (length,) = struct.unpack_from("<I", packed)
    assert length == 6 and packed[4:] == "abc".encode("utf-16-le")


def test_connections_get_the_token_and_no_credentials():
    calls = []

    def connect(*args, **kwargs):
        calls.append((args, kwargs))

    wrapped = sql_setup.with_token(connect, b"token")
    conn_str = sql_setup.connection_string("sql-x.database.windows.net", "imaginem")
    wrapped(conn_str, autocommit=True, timeout=30)
    (_args, kwargs) = calls[0]
    assert kwargs["attrs_before"] == {sql_setup.SQL_COPT_SS_ACCESS_TOKEN: b"token"}
    assert kwargs["autocommit"] is True
    # With an access token the driver refuses UID, PWD and Authentication.
    for keyword in ("uid=", "pwd=", "authentication="):
        assert keyword not in conn_str.lower()
    assert "ODBC Driver 18 for SQL Server" in conn_str and "Encrypt=yes" in conn_str


def test_app_user_is_created_once_with_data_roles_only():
    connection = FakeConnection()
    sql_setup.ensure_app_user(connection, "func-imaginem-abc")
    statements = [sql for sql, _ in connection.log]
    params = [p for _, p in connection.log]
    assert "IF NOT EXISTS" in statements[0] and "FROM EXTERNAL PROVIDER" in statements[0]
    assert params == [
        ("func-imaginem-abc",),
        ("func-imaginem-abc", "db_datareader"),
        ("func-imaginem-abc", "db_datawriter"),
    ]
    # Names travel as parameters and are quoted on the server, never formatted into the SQL text.
    assert all("func-imaginem-abc" not in sql for sql in statements)
    assert connection.committed
