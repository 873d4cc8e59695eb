import pytest

from fastdistill_tui.core import artifacts
from fastdistill_tui.core.stages.registry import timing_labels


def test_percentiles_match_hand_computed_values():
    values = sorted([1.0, 2.0, 3.0, 4.0, 10.0])
    # linear interpolation: position (n-1)*q
    assert artifacts.percentile(values, 50) == 3.0
    assert artifacts.percentile(values, 90) == pytest.approx(4.0 + 0.6 * 6.0)  # pos 3.6 → 7.6
    assert artifacts.percentile(values, 95) == pytest.approx(4.0 + 0.8 * 6.0)  # pos 3.8 → 8.8
    assert artifacts.percentile([5.0], 90) == 5.0
    even = [1.0, 2.0, 3.0, 4.0]
    assert artifacts.percentile(even, 50) == 2.5


def test_summarize_and_timing_report():
    marks = [
        {"raw": 0.0, "canonical": 1.0, "hashed": 1.0, "teacher": 5.0},
        {"raw": 0.0, "canonical": 2.0, "hashed": 3.0, "teacher": 4.0},
        {"raw": 0.0, "canonical": 3.0, "hashed": 3.0},  # no teacher mark: its transitions only
    ]
    report = artifacts.timing_report("r", marks, timing_labels())
    d = report["durations"]
    assert list(d) == ["raw__to__canonical", "canonical__to__hashed", "hashed__to__teacher"]
    assert d["raw__to__canonical"]["count"] == 3
    assert d["raw__to__canonical"]["p50"] == 2.0
    assert d["raw__to__canonical"]["mean"] == 2.0
    assert d["hashed__to__teacher"]["min"] == 1.0 and d["hashed__to__teacher"]["max"] == 4.0
    # summed time: 6 + 1 + 5 = 12
    assert d["raw__to__canonical"]["share"] == pytest.approx(6 / 12)
    assert d["hashed__to__teacher"]["share"] == pytest.approx(5 / 12)
    assert report["total"]["count"] == 3
    assert report["total"]["max"] == 5.0
    assert set(report) >= {"run_id", "labels", "durations", "total", "created_at"}


def test_quality_report_against_hand_built_answers():
    rows = [
        {"exec_ok": 1, "gold_match": 1, "score": 1.0, "reason": None, "kept": True},
        {"exec_ok": 1, "gold_match": 0, "score": 0.5, "reason": "value_mismatch", "kept": False},
        {"exec_ok": 0, "gold_match": 0, "score": 0.0, "reason": "exec_error", "kept": False},
        {"exec_ok": 0, "gold_match": 0, "score": 0.0, "reason": "timeout", "kept": False},
        {"exec_ok": 1, "gold_match": 1, "score": 1.0, "reason": None, "kept": True},
    ]
    tally = artifacts.QualityTally("r", "score")
    for row in rows:
        tally.add(row, row["kept"], row["reason"])
    q = tally.report({"extra": 1})
    assert (q["total"], q["kept"], q["rejected"]) == (5, 2, 3)
    assert q["p_keep"] == pytest.approx(0.4)
    assert q["exec_pass_rate"] == pytest.approx(0.6)
    assert q["gold_match_rate"] == pytest.approx(0.4)
    assert q["score"] == {"min": 0.0, "max": 1.0, "mean": pytest.approx(0.5)}
    assert q["reject_reason_counts"] == {"exec_error": 1, "timeout": 1, "value_mismatch": 1}
    assert q["exec_error_counts"] == {"exec_error": 1, "timeout": 1}
    assert q["extra"] == 1 and q["stage"] == "score" and q["run_id"] == "r"


def test_empty_quality_report_has_zero_rates():
    q = artifacts.QualityTally("r", "clean").report()
    assert (q["total"], q["p_keep"], q["exec_pass_rate"], q["score"]["mean"]) == (
        0, 0.0, 0.0, 0.0)


def manifest_of(rows, run_id="r"):
    digest = artifacts.ManifestDigest(run_id, "export", ["sample_id", "sql"], "h")
    for row in rows:
        digest.add(row)
    return digest.manifest()


def test_manifest_hash_depends_on_content():
    rows = [{"sample_id": "a", "sql": "SELECT 1"}, {"sample_id": "b", "sql": "SELECT 2"}]
    m1 = manifest_of(rows)
    m2 = manifest_of([dict(r) for r in rows], run_id="r2")
    rows[1]["sql"] = "SELECT 3"
    m3 = manifest_of(rows)
    rows[1]["sql"] = None
    m4 = manifest_of(rows)
    assert m1["field_hash"] == m2["field_hash"] != m3["field_hash"] != m4["field_hash"]
    assert (m1["count"], m1["min_sample_id"], m1["max_sample_id"]) == (2, "a", "b")
    assert m1["columns"] == ["sample_id", "sql"] and m1["config_hash"] == "h"
