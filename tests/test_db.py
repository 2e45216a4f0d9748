import threading
from pathlib import Path

import pytest
import sqlglot

from pipeline.db import MIGRATIONS_ROOT, SQLITE, TSQL, Database, dialect_for, migration_files
from pipeline.errors import ConfigurationError

VIEW_COLUMNS = {
    "v_images": [
        "image_id", "blob_name", "batch_id", "status", "failed_step", "error", "face_count", "tags", "caption", "text",
    ],
    "v_face_matches": ["face_id", "image_blob", "matched_face_id", "matched_image_blob", "confidence"],
    "v_person_faces": ["person_id", "face_id", "image_id", "blob_name", "batch_id"],
    "v_persons": ["person_id", "label", "face_count", "image_count", "first_seen", "last_seen"],
    "v_match_reviews": [
        "face_id", "image_blob", "matched_face_id", "matched_image_blob", "confidence", "state", "reviewer",
        "decided_at",
    ],
    "v_audit": ["at", "actor", "action", "image_id", "detail"],
}  # fmt: skip


def test_dialect_follows_the_odbc_driver():
    assert dialect_for("Driver=SQLite3;Database=x.db") is SQLITE
    assert dialect_for("Driver={ODBC Driver 18 for SQL Server};Server=tcp:x,1433") is TSQL
    with pytest.raises(ConfigurationError, match="must name its ODBC driver"):
        dialect_for("Server=x;Database=y")


def test_upgrade_is_idempotent(sql_connection_string):
    database = Database(sql_connection_string)
    first = database.upgrade()
    assert first == [version for version, _ in migration_files(SQLITE)]
    assert database.upgrade() == []
    _, rows = database.query("SELECT version FROM schema_migrations")
    assert sorted(row[0] for row in rows) == first


def test_concurrent_upgrades_apply_each_migration_once(sql_connection_string):
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def upgrade():
        try:
            results.append(Database(sql_connection_string).upgrade())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    applied = sorted(version for result in results for version in result)
    assert applied == [version for version, _ in migration_files(SQLITE)]


def test_stable_views_have_their_documented_columns(sql_connection_string):
    database = Database(sql_connection_string)
    database.upgrade()
    for view, columns in VIEW_COLUMNS.items():
        described, _ = database.query(f"SELECT * FROM {view} WHERE 1 = 0")  # noqa: S608 - fixed view names
        assert described == columns


def test_both_dialects_have_the_same_migrations():
    sqlite = [path.name for _, path in migration_files(SQLITE)]
    tsql = [path.name for _, path in migration_files(TSQL)]
    assert sqlite == tsql


@pytest.mark.parametrize("path", sorted((MIGRATIONS_ROOT / "tsql").glob("*.sql")), ids=lambda p: p.name)
def test_tsql_migrations_parse_as_tsql(path: Path):
    for batch in TSQL.split(path.read_text(encoding="utf-8")):
        parsed = sqlglot.parse(batch, read="tsql")
        assert parsed and all(statement is not None for statement in parsed)


def test_tsql_and_sqlite_declare_the_same_tables_and_views():
    def objects(dialect, read):
        names = set()
        for _, path in migration_files(dialect):
            for statement in dialect.split(path.read_text(encoding="utf-8")):
                for parsed in sqlglot.parse(statement, read=read):
                    if parsed is not None and parsed.key == "create":
                        names.add(
                            (parsed.args["kind"].upper(), parsed.this.find(sqlglot.exp.Table).name.lower())
                        )
        return names

    assert objects(SQLITE, "sqlite") == objects(TSQL, "tsql")


def test_activedirectorydefault_becomes_an_access_token_for_the_driver(monkeypatch):
    import struct

    import azure.identity

    from pipeline import db

    class FakeCredential:  # stands in for `az login`, which cannot run here
        def get_token(self, scope):
            assert scope == "https://database.windows.net/.default"
            return type("Token", (), {"token": "eyJ0b2tlbiJ9"})()

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", FakeCredential)
    text = "Driver={ODBC Driver 18 for SQL Server};Server=tcp:x,1433;Authentication=ActiveDirectoryDefault;Encrypt=yes"
    connection_string, attributes = db.connect_arguments(text)
    assert "Authentication" not in connection_string and "Encrypt=yes" in connection_string
    token = attributes[db.SQL_COPT_SS_ACCESS_TOKEN]
    assert struct.unpack_from("<I", token)[0] == len("eyJ0b2tlbiJ9") * 2
    assert token[4:].decode("utf-16-le") == "eyJ0b2tlbiJ9"
    assert db.connect_arguments("Driver=SQLite3;Database=x.db") == ("Driver=SQLite3;Database=x.db", {})
