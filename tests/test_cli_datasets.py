"""Each dataset kind through the command line, as a user runs it, with the builtin teacher."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from dataset_helpers import wikisql_row, write_wikisql
from test_download import ArchiveServer, wikisql_archive

from fastdistill_tui import cli


def run_and_read(capsys, *args: str) -> tuple[int, Path]:
    code = cli.main(["run", "--headless", *args])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    return code, Path(last.rsplit(": ", 1)[1])


def report(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / "reports" / f"{stage}.quality_report.json").read_text())


def test_spider_de_dev(spider_de_dev, capsys):
    code, run_dir = run_and_read(capsys, "--dataset", f"spider:{spider_de_dev}", "--limit",
                                 "120", "--override-gate", "teacher_eval")
    assert code == 0
    assert report(run_dir, "dedup")["kept"] == 120
    gold = report(run_dir, "gold_check")
    assert gold["total"] == 120 and gold["kept"] + gold["rejected"] == 120
    assert (run_dir / "mlx" / "train.jsonl").exists()
    first = json.loads((run_dir / "mlx" / "train.jsonl").read_text().splitlines()[0])
    assert "Question:" in first["messages"][1]["content"]


def test_wikisql_dir(tmp_path, capsys):
    rows = [wikisql_row("1-10015132-11", f"What is the name of player number {i}?", 0, 0,
                        [[1, 0, str(i)]]) for i in range(60)]
    root = write_wikisql(tmp_path / "wikisql", {"train": rows, "dev": rows[:5]})
    code, run_dir = run_and_read(capsys, "--dataset", f"wikisql:{root}", "--override-gate",
                                 "teacher_eval")
    assert code == 0
    assert report(run_dir, "score")["total"] + report(run_dir, "gold_check")["rejected"] == 60


def test_unknown_split_is_a_clear_error(tmp_path, capsys):
    rows = [wikisql_row("1-10015132-11", "What is the name of player number 3?", 0)]
    root = write_wikisql(tmp_path / "wikisql", {"train": rows})
    assert cli.main(["run", "--headless", "--dataset", f"wikisql:{root}", "--split",
                     "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "train" in err


def test_data_get_wikisql_then_run_on_it(tmp_path, capsys):
    server = ArchiveServer(wikisql_archive(tmp_path))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        assert cli.main(["data", "get", "wikisql", "--url", server.url, "--dest",
                         str(tmp_path / "datasets")]) == 0
        spec = capsys.readouterr().out.strip().split("--dataset ")[1]
        assert cli.main(["data", "get", "wikisql", "--url", server.url, "--dest",
                         str(tmp_path / "datasets")]) == 0
        assert len(server.ranges) == 1  # the second call found the archive complete
    finally:
        server.shutdown()
        server.server_close()
    capsys.readouterr()
    code, run_dir = run_and_read(capsys, "--dataset", spec, "--limit", "60",
                                 "--override-gate", "teacher_eval")
    assert code == 0
    assert report(run_dir, "dedup")["kept"] == 60


def test_wikisql_official_metrics_are_reported(tmp_path, capsys):
    """A teacher that answers with the gold SQL scores 1.0 on the official metrics; one that
    answers outside WikiSQL's grammar scores 0 on logical form."""
    from loopback_server import LoopbackServer

    from fastdistill_tui.core.datasets.registry import open_dataset
    from fastdistill_tui.core.prompt import parse_prompt

    countries = ["Atlantis", "Lemuria"]
    # Every gold result has rows: an empty one is never a gold match.
    rows = [wikisql_row("2-555-1", f"Which city of {countries[i % 2]} has more than {p} people?",
                        0, 0, [[1, 0, countries[i % 2]], [2, 1, p]])
            for i, p in enumerate(range(1000, 1060))]
    root = write_wikisql(tmp_path / "wikisql", {"train": rows})
    gold = {ex.question: ex.gold_sql for ex in open_dataset(
        f"wikisql:{root}", cache_dir=tmp_path / "cache").iter_examples("train")}

    def exact(messages):
        return gold[parse_prompt(messages)[1]]

    def grammar_breaking(messages):  # same rows, but a subquery WikiSQL cannot express
        return f"SELECT * FROM ({gold[parse_prompt(messages)[1]]})"

    for model, responder, lf_accuracy in (("a", exact, 1.0), ("b", grammar_breaking, 0.0)):
        with LoopbackServer(responder=responder) as srv:  # two models: two cache keys
            code, run_dir = run_and_read(
                capsys, "--dataset", f"wikisql:{root}", "--teacher", f"openai:{model}",
                "--base-url", srv.base_url, "--override-gate", "teacher_eval")
        assert code == 0
        metrics = report(run_dir, "score")["wikisql"]
        assert metrics["total"] == 60
        assert metrics["logical_form_accuracy"] == lf_accuracy
        assert metrics["execution_accuracy"] == lf_accuracy
        assert report(run_dir, "score")["gold_match_rate"] == 1.0
