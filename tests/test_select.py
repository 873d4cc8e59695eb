import json

from fastdistill_tui.core.stages.select import select, valid_bucket
from fastdistill_tui.core.store import ResultRow, Store


def fill(store: Store, n: int, score: float = 1.0, prefix: int = 0) -> list[str]:
    store.create_run("r", "h", "{}", "d", "t")
    ids = [f"{prefix + i:08x}" + "0" * 56 for i in range(1, n + 1)]
    for sid in ids:
        store.queue_result("r", ResultRow(
            sample_id=sid, cache_key=None, prompt_tokens=1, gold_ok=True, gold_empty=False,
            teacher_ok=True, sql="SELECT 1", sql_fingerprint=None, exec_ok=True,
            gold_match=score == 1.0, score=score, rejected_at=None, reason=None, detail="",
            marks={"raw": 1.0}))
    store.flush()
    return ids


def test_select_splits_by_hash_and_records_marks(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ids = fill(store, 50)
    ids += [f"{i:08x}" + "0" * 56 for i in (0x10000000, 0xF0000000)]  # buckets 0.0625, 0.94
    for sid in ids[-2:]:
        store.queue_result("r", ResultRow(sid, None, 1, True, False, True, "SELECT 1", None,
                                          True, True, 1.0, None, None, "", {"raw": 1.0}))
    store.flush()
    assert select(store, "r", min_score=1.0, valid_fraction=0.1) == 52
    splits = dict(store.query("SELECT sample_id, split FROM results WHERE run_id = 'r'"))
    assert splits[ids[-2]] == "valid" and splits[ids[-1]] == "train"
    assert all(splits[s] == ("valid" if valid_bucket(s) < 0.1 else "train") for s in ids)
    marks = json.loads(store.query("SELECT marks FROM results LIMIT 1")[0][0])
    assert set(marks) == {"raw", "selected"}


def test_select_forces_one_valid_row_and_honours_min_score(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    fill(store, 5, score=0.5, prefix=0x80000000)  # all in bucket ~0.5
    assert select(store, "r", min_score=1.0, valid_fraction=0.1) == 0
    assert select(store, "r", min_score=0.5, valid_fraction=1e-12) == 5
    valid = store.query("SELECT count(*) FROM results WHERE split = 'valid'")[0][0]
    assert valid == 1


def test_a_store_from_version_1_is_migrated_in_place(tmp_path):
    import sqlite3

    from fastdistill_tui.core import store as store_module

    path = tmp_path / "old.sqlite"
    old_schema = store_module.SCHEMA.replace("    lf_match INTEGER,\n", "").replace(
        "    lf_exec_match INTEGER,\n", "")
    with sqlite3.connect(path) as conn:
        conn.executescript(old_schema)
        conn.execute("INSERT INTO runs (run_id, created_at, status, config_hash, config_json,"
                     " dataset, teacher) VALUES ('old', 1, 'completed', 'h', '{}', 'd', 't')")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(results)")}
    assert "lf_match" not in columns and "marks" in columns  # really the old layout
    store = Store(path)
    ids = fill(store, 3)  # writes rows with the new columns
    assert store.get_run("old")["status"] == "completed"  # kept
    assert store.query("SELECT count(*) FROM results WHERE lf_match IS NULL")[0][0] == len(ids)
    assert store.query("PRAGMA user_version")[0][0] == store_module.SCHEMA_VERSION
    store.close()
    Store(path).close()  # opening again is a no-op


def test_select_never_keeps_a_sample_whose_gold_result_is_empty(tmp_path):
    """Even one scored 1.0 (an LLM judge, or a store written before empty pairs stopped
    counting as gold matches)."""
    store = Store(tmp_path / "s.sqlite")
    ids = fill(store, 4)
    store.queue_result("r", ResultRow(ids[0], None, 1, True, True, True, "SELECT 1 WHERE 0",
                                      None, True, True, 1.0, None, None, "", {"raw": 1.0}))
    store.flush()
    assert select(store, "r", min_score=0.0, valid_fraction=0.5) == 3
    kept = {r[0] for r in store.query("SELECT sample_id FROM results WHERE selected = 1")}
    assert kept == set(ids[1:])
