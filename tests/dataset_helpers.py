"""Writers of small, real dataset directories for the dataset tests."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

# A WikiSQL table with a header containing spaces, a duplicated header, an empty header,
# thousands separators, an unparseable number and mixed-case text.
PLAYERS_TABLE = {
    "id": "1-10015132-11",
    "header": ["Player", "No.", "Nationality", "Position", "Years in Toronto", "Points",
               "Points", ""],
    "types": ["text", "real", "text", "text", "text", "real", "real", "text"],
    "rows": [
        ["Aleksandar Radojević", "25", "Serbia", "Center", "1999-2000", "1,204", 3, "x"],
        ["Shawn Respert", "31", "United States", "Guard", "1997-98", "2,031", 1, "y"],
        ["Quentin Richardson", "N/A", "United States", "Forward", "2013-present", "955", 2,
         "z"],
        ["Alvin Robertson", "7, 21", "United States", "Guard", "1995-96", "n/a", 4, "w"],
        ["Carlos Rogers", 33, "United States", "Forward-Center", "1995-98", 310.5, 5, "v"],
    ],
}
CITIES_TABLE = {
    "id": "2-555-1",
    "header": ["City", "Country", "Population"],
    "types": ["text", "text", "real"],
    "rows": [["Springfield", "Atlantis", "1,000,000"], ["O'Fallon", "Atlantis", "12,000"],
             ["Riverton", "Lemuria", 5000]],
}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def wikisql_row(table_id: str, question: str, sel: int, agg: int = 0,
                conds: list[list[Any]] | None = None) -> dict[str, Any]:
    return {"phase": 1, "table_id": table_id, "question": question,
            "sql": {"sel": sel, "agg": agg, "conds": conds or []}}


def write_wikisql(root: Path, questions: dict[str, list[dict[str, Any]]],
                  tables: list[dict[str, Any]] | None = None) -> Path:
    """root/<split>.jsonl and root/<split>.tables.jsonl for each split in questions."""
    for split, rows in questions.items():
        write_jsonl(root / f"{split}.jsonl", rows)
        write_jsonl(root / f"{split}.tables.jsonl", tables or [PLAYERS_TABLE, CITIES_TABLE])
    return root


def make_sqlite(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


SAENGER_DB = """
CREATE TABLE "sänger" ("sänger_id" INTEGER PRIMARY KEY, "name" TEXT, "land" VARCHAR(20),
                       "alter" INT);
CREATE TABLE "konzert" ("konzert_id" INTEGER PRIMARY KEY, "jahr" TEXT,
                        "sänger_id" INTEGER REFERENCES "sänger"("sänger_id"));
INSERT INTO "sänger" VALUES (1, 'Jürgen Groß', 'Österreich', 52), (2, 'Anna Weiß', 'Schweiz', 29);
INSERT INTO "konzert" VALUES (1, '2014', 1), (2, '2015', 2), (3, '2015', 1);
"""

SPIDER_TABLES = [{
    "db_id": "konzerte",
    "table_names_original": ["sänger", "konzert"],
    "table_names": ["sänger", "konzert"],
    "column_names_original": [[-1, "*"], [0, "sänger_id"], [0, "name"], [0, "land"],
                              [0, "alter"], [1, "konzert_id"], [1, "jahr"], [1, "sänger_id"]],
    "column_names": [[-1, "*"], [0, "sänger id"], [0, "name"], [0, "land"], [0, "alter"],
                     [1, "konzert id"], [1, "jahr"], [1, "sänger id"]],
    "column_types": ["text", "number", "text", "varchar(20)", "int", "number", "text",
                     "number"],
    "primary_keys": [1, 5],
    "foreign_keys": [[7, 1]],
}]


def write_spider(root: Path, splits: dict[str, list[dict[str, Any]]] | None = None,
                 tables: list[dict[str, Any]] | None = None) -> Path:
    """A Spider-layout directory with one German database, `konzerte`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tables.json").write_text(json.dumps(tables or SPIDER_TABLES, ensure_ascii=False),
                                      encoding="utf-8")
    make_sqlite(root / "database" / "konzerte" / "konzerte.sqlite", SAENGER_DB)
    splits = splits if splits is not None else {"dev": [
        {"db_id": "konzerte", "question": "Wie viele Sänger gibt es?",
         "query": "SELECT count(*) FROM sänger"},
        {"db_id": "konzerte", "question": "Welche Sänger sind älter als 30?",
         "SQL": "SELECT name FROM sänger WHERE \"alter\" > 30",
         "evidence": "älter als 30 bezieht sich auf alter > 30"},
    ]}
    for split, rows in splits.items():
        (root / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False),
                                            encoding="utf-8")
    return root
