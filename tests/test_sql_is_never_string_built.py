"""No SQL is assembled from strings at run time: every statement is one constant, values go as parameters.

An ``ast`` scan of every Python file git tracks finds string literals that look like SQL and are built by
an f-string, ``%``, ``.format``, ``+`` / ``+=`` or ``str.join`` with anything that is not itself a constant
(module-level ``NAME = "literal"`` counts as constant). Each finding must be in ``ALLOWED`` with its reason;
an entry names the file, the function and the exact source of the expression, so a new one — even next to
an allowed one — fails, and an entry that no longer matches anything fails too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tests.infra.templates import REPO
from tests.infra.test_no_secrets import tracked_files

SQL_WORDS = re.compile(
    r"\b(?:SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|MERGE|WHERE|FROM|JOIN|VALUES|ORDER\s+BY|GROUP\s+BY|HAVING|"
    r"UNION|AND|OR|LIKE|LIMIT|OFFSET|DROP|CREATE|ALTER|EXEC)\b"
)


@dataclass(frozen=True)
class Finding:
    path: str
    function: str  # qualified name of the enclosing function, "<module>" at the top level
    source: str  # the expression, as written
    line: int

    @property
    def key(self) -> tuple[str, str, str]:
        return self.path, self.function, self.source


# (file, function, expression as written) -> why it is safe.
ALLOWED: dict[tuple[str, str, str], str] = {
    (
        "devhost/quickstart.py",
        "_run_batch",
        "f\"SELECT * FROM v_images WHERE batch_id = '{batch}'\"",
    ): "printed as a hint for the user to copy, never executed; batch is the generated run-YYYYMMDD-HHMMSS name",
    (
        "pipeline/api/images.py",
        "image_list_statements",
        "IMAGE_COUNT_SQL + where",
    ): "the image list's filters combine freely (48 combinations): where joins IMAGE_FILTERS_SQL fragments "
    "picked by validated filter names; every value is a bound parameter",
    (
        "pipeline/api/images.py",
        "image_list_statements",
        "IMAGE_LIST_SQL + where + IMAGE_LIST_ORDER_SQL + dialect.page_clause",
    ): "as above, plus the dialect's constant paging clause",
    (
        "pipeline/api/images.py",
        "tags_of_images_statement",
        'TAGS_OF_IMAGES_SQL.format(", ".join("?" * count))',
    ): "inserts only '?' placeholders, one per image id of the page (at most 500)",
    (
        "pipeline/faces/store.py",
        "embeddings_of_statement",
        'EMBEDDINGS_OF_SQL.format(", ".join("?" * count))',
    ): "inserts only '?' placeholders, one per candidate face id (at most EMBEDDINGS_PER_QUERY)",
    (
        "pipeline/faces/store.py",
        "FaceIndexStore.local_embeddings",
        "LOCAL_FACES_SQL + dialect.page_clause",
    ): "one constant statement plus the dialect's constant paging clause; every value is a bound parameter",
    (
        "pipeline/api/persons.py",
        "person_list_statement",
        "PERSON_LIST_SQL + database.dialect.page_clause",
    ): "one constant statement plus the dialect's constant paging clause; every value is a bound parameter",
    (
        "pipeline/desk/queries.py",
        "batch_list",
        "BATCH_LIST_SQL + database.dialect.page_clause",
    ): "one constant statement plus the dialect's constant paging clause; every value is a bound parameter",
    (
        "pipeline/api/reviews.py",
        "review_queue_statement",
        "REVIEW_QUEUE_SQL + database.dialect.page_clause",
    ): "one constant statement plus the dialect's constant paging clause; every value is a bound parameter",
    (
        "tests/test_db.py",
        "test_stable_views_have_their_documented_columns",
        'f"SELECT * FROM {view} WHERE 1 = 0"',
    ): "test code: view is a key of the test's own VIEW_COLUMNS table",
    (
        "tests/test_forget.py",
        "traces",
        'f"SELECT COUNT(*) FROM {table} WHERE image_id = ?"',
    ): "test code: table is one of the test's own TABLES_BY_IMAGE names; the image id is a parameter",
    (
        "tests/test_reprocess.py",
        "counts",
        'f"SELECT COUNT(*) FROM {table}"',
    ): "test code: table is one of the literal table names listed on the line above",
}


def _looks_like_sql(text: str) -> bool:
    return SQL_WORDS.search(text) is not None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, source: str, tree: ast.Module) -> None:
        self.path = path
        self.source = source
        self.found: list[Finding] = []
        self._scope: list[str] = []
        # Module-level names bound to constant text (NAME = "literal", "a" "b", CONST + "c", f"{CONST}"), and to
        # dicts of constant text (a table of fixed fragments): what they hold is known, whatever uses them.
        self._constants: dict[str, str] = {}
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                text = self._text(node.value)
                if text is None and isinstance(node.value, ast.Dict):
                    values = [self._text(value) for value in node.value.values]
                    text = None if None in values else " ".join(values)  # type: ignore[arg-type]
                if text is not None:
                    self._constants[node.targets[0].id] = text

    # -- what counts as constant text ---------------------------------------------------------------

    def _text(self, node: ast.expr) -> str | None:
        """The text of an expression made only of constants, or None when any part is a run-time value."""
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.Name):
            return self._constants.get(node.id)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            return self._constants.get(node.value.id)  # one of a constant table's fragments
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._text(node.left), self._text(node.right)
            return None if left is None or right is None else left + right
        if isinstance(node, ast.JoinedStr):
            parts = [
                self._text(part.value if isinstance(part, ast.FormattedValue) else part)
                for part in node.values
            ]
            return None if None in parts else "".join(parts)  # type: ignore[arg-type]
        return None

    def _constant(self, node: ast.expr) -> bool:
        return self._text(node) is not None

    def _literal_text(self, node: ast.AST) -> str:
        """Every piece of known text inside an expression (what would make it SQL)."""
        pieces = [
            piece.value if isinstance(piece, ast.Constant) else self._constants.get(piece.id, "")
            for piece in ast.walk(node)
            if (isinstance(piece, ast.Constant) and isinstance(piece.value, str))
            or isinstance(piece, ast.Name)
        ]
        return " ".join(pieces)

    # -- the patterns -------------------------------------------------------------------------------

    def _built(self, node: ast.AST) -> bool:
        if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)):
            return not self._constant(node) and _looks_like_sql(self._literal_text(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return _looks_like_sql(self._literal_text(node.left))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("format", "join")
        ):
            owner = self._text(node.func.value)
            return owner is not None and _looks_like_sql(f" {owner} ")
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            return _looks_like_sql(self._literal_text(node.value))
        return False

    def generic_visit(self, node: ast.AST) -> None:
        if self._built(node):
            segment = ast.get_source_segment(self.source, node) or ""
            function = ".".join(self._scope) or "<module>"
            self.found.append(Finding(self.path, function, segment, getattr(node, "lineno", 0)))
            return  # one finding per expression, not one per nested piece
        super().generic_visit(node)

    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self._scope.append(node.name)
        self.generic_visit(node)
        self._scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_scope


def scan(source: str, path: str = "<snippet>") -> list[Finding]:
    tree = ast.parse(source)
    scanner = _Scanner(path, source, tree)
    scanner.visit(tree)
    return scanner.found


def python_files() -> list[str]:
    return [name for name in tracked_files() if name.endswith(".py") and (REPO / name).is_file()]


def repository_findings() -> list[Finding]:
    return [
        finding
        for name in python_files()
        for finding in scan((REPO / name).read_text(encoding="utf-8"), name)
    ]


def test_no_tracked_python_file_builds_sql_from_strings():
    assert {"pipeline/records.py", "pipeline/reprocess.py", "pipeline/api/images.py"} <= set(python_files())
    found = repository_findings()
    unexpected = [f"{f.path}:{f.line} in {f.function}: {f.source}" for f in found if f.key not in ALLOWED]
    assert unexpected == [], "SQL built from strings; use one constant statement and ? parameters"


def test_every_allowed_entry_still_matches_exactly_one_expression():
    keys = [finding.key for finding in repository_findings()]
    assert {key: keys.count(key) for key in ALLOWED} == dict.fromkeys(ALLOWED, 1)


# -- the scanner finds what it must, and only that ------------------------------------------------------------


def _snippet(body: str) -> str:
    return "TABLE = 'images'\n\ndef handler(db, name, clauses):\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )


def test_the_scanner_finds_each_way_of_building_sql():
    built = [
        "db.execute(f\"SELECT * FROM images WHERE blob_name = '{name}'\")",
        "db.execute(\"DELETE FROM images WHERE batch_id = '%s'\" % name)",
        'db.execute("UPDATE images SET status = {} WHERE image_id = 1".format(name))',
        'db.execute("SELECT * FROM images WHERE blob_name = \'" + name + "\'")',
        'sql = "SELECT * FROM images"\nsql += " WHERE " + name',
        'db.execute("SELECT * FROM images WHERE " + " AND ".join(clauses))',
    ]
    for body in built:
        found = scan(_snippet(body))
        assert [finding.function for finding in found] == ["handler"], body


def test_constant_sql_and_parameters_are_not_findings():
    fine = [
        'db.execute("SELECT * FROM images WHERE blob_name = ?", [name])',
        'db.execute("SELECT * FROM images " "WHERE blob_name = ?", [name])',
        'db.execute("SELECT * FROM images " + "WHERE blob_name = ?", [name])',
        'db.execute(f"SELECT * FROM {TABLE} WHERE blob_name = ?", [name])',
        'log.info(f"deleted {name} from the queue")',
        'message = f"blob {name} does not exist"',
        'text = ", ".join(clauses)',
    ]
    for body in fine:
        assert scan(_snippet(body)) == [], body
