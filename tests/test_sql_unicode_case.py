"""Unicode case folding for databases that declare COLLATE NOCASE_UNICODE, on a real SQLite
file: the collation, LIKE (with ESCAPE), lower() and upper()."""

import sqlite3

import pytest

from fastdistill_tui.core.sql import unicode_case


@pytest.fixture
def conn(tmp_path):
    path = tmp_path / "u.sqlite"
    with sqlite3.connect(path) as setup:
        setup.create_collation(unicode_case.COLLATION, unicode_case.compare)
        setup.execute(f"CREATE TABLE t (name TEXT COLLATE {unicode_case.COLLATION}, n REAL)")
        setup.executemany("INSERT INTO t VALUES (?, ?)", [
            ("Österreich", 1.5), ("ÉCOLE_1", 2.0), ("straße", 3.0), ("100%", 4.0)])
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    unicode_case.install(conn)
    yield conn
    conn.close()


def names(conn, where):
    return sorted(r[0] for r in conn.execute(f"SELECT name FROM t WHERE {where}"))


@pytest.mark.parametrize("where, expected", [
    ("name = 'ÖSTERREICH'", ["Österreich"]),
    ("name = 'STRASSE'", ["straße"]),  # casefold: ß is ss
    ("name > 'p' AND name < 'T'", ["straße"]),
    ("name LIKE 'öst%'", ["Österreich"]),
    ("name LIKE '%REICH'", ["Österreich"]),
    ("name LIKE '_cole%'", ["ÉCOLE_1"]),
    ("name LIKE 'ecole%'", []),  # É is not E
    ("name LIKE 'éCOLE!_1' ESCAPE '!'", ["ÉCOLE_1"]),
    ("name LIKE 'écolex1'", []),
    ("name LIKE '100!%' ESCAPE '!'", ["100%"]),
    ("name LIKE '%'", sorted(["100%", "straße", "ÉCOLE_1", "Österreich"])),
    ("lower(name) = 'österreich'", ["Österreich"]),
    ("upper(name) = 'ÉCOLE_1'", ["ÉCOLE_1"]),
    ("lower(n) = '1.5'", ["Österreich"]),
    ("lower(n) = '2.0'", ["ÉCOLE_1"]),  # as SQLite renders a real
])
def test_unicode_case_rules(conn, where, expected):
    assert names(conn, where) == expected


def test_null_and_long_patterns(conn):
    assert conn.execute("SELECT NULL LIKE 'a', 'a' LIKE NULL, lower(NULL)").fetchone() == (
        None, None, None)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT name FROM t WHERE name LIKE ?",
                     ("_" * (unicode_case.MAX_LIKE_PATTERN + 1),)).fetchall()


def test_other_databases_keep_sqlite_behaviour(tmp_path):
    path = tmp_path / "plain.sqlite"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (name TEXT COLLATE NOCASE)")
        setup.execute("INSERT INTO t VALUES ('Österreich')")
    conn = sqlite3.connect(path)
    unicode_case.install(conn)
    try:
        assert conn.execute("SELECT count(*) FROM t WHERE name LIKE 'öst%'").fetchone() == (0,)
        assert conn.execute("SELECT lower('Ö')").fetchone() == ("Ö",)
    finally:
        conn.close()
