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
