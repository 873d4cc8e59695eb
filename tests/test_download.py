"""WikiSQL download against a real loopback HTTP server: resume, checksums, safe unpacking."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dataset_helpers import wikisql_row, write_wikisql

from fastdistill_tui.core.datasets.download import download_wikisql
from fastdistill_tui.core.datasets.registry import open_dataset
from fastdistill_tui.core.errors import InputError


class ArchiveHandler(BaseHTTPRequestHandler):
    """Serves server.payload at /data.tar.bz2 with Range support (unless told to ignore it)."""

    server: ArchiveServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server = self.server
        server.ranges.append(self.headers.get("Range"))
        if self.path != "/data.tar.bz2":
            self.send_error(404)
            return
        data = server.payload
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match and not server.ignore_range else 0
        if start >= len(data) > 0 and match:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_after is not None:
            body = body[:server.cut_after]  # then the connection closes early
        self.wfile.write(body)
        server.bytes_sent += len(body)

    def log_message(self, *args) -> None:
        pass


class ArchiveServer(ThreadingHTTPServer):
    def __init__(self, payload: bytes) -> None:
        super().__init__(("127.0.0.1", 0), ArchiveHandler)
        self.payload = payload
        self.ranges: list[str | None] = []
        self.bytes_sent = 0
        self.ignore_range = False
        self.cut_after: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/data.tar.bz2"


def wikisql_archive(tmp_path: Path) -> bytes:
    """A data.tar.bz2 in the official layout: data/{train,dev}.jsonl, .tables.jsonl, .db."""
    rows = [wikisql_row("2-555-1", f"What is the population of city {i}?", 2, 0,
                        [[0, 0, "Springfield"]]) for i in range(200)]
    source = write_wikisql(tmp_path / "source" / "data", {"train": rows, "dev": rows[:5]})
    (source / "dev.db").write_bytes(b"SQLite format 3\x00")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        tar.add(source, arcname="data")
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path):
    srv = ArchiveServer(wikisql_archive(tmp_path))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_full_download_records_checksum_and_loads(tmp_path, server):
    calls = []
    out = download_wikisql(tmp_path / "dl", url=server.url,
                           progress=lambda done, total: calls.append((done, total)))
    archive = tmp_path / "dl" / "data.tar.bz2"
    assert archive.read_bytes() == server.payload
    assert not (tmp_path / "dl" / "data.tar.bz2.part").exists()
    assert calls[-1] == (len(server.payload), len(server.payload))
    digest = hashlib.sha256(server.payload).hexdigest()
    assert (tmp_path / "dl" / "data.tar.bz2.sha256").read_text() == f"{digest}  data.tar.bz2\n"
    assert out == tmp_path / "dl" / "wikisql"
    assert sorted(p.name for p in out.iterdir()) == [
        "dev.db", "dev.jsonl", "dev.tables.jsonl", "train.jsonl", "train.tables.jsonl"]
    dataset = open_dataset(f"wikisql:{out}", cache_dir=tmp_path / "cache")
    assert (dataset.default_split, dataset.default_eval_split) == ("train", "dev")
    examples = list(dataset.iter_examples("dev"))
    assert len(examples) == 5 and examples[0].extra["official_db"] == str(out / "dev.db")
    assert [p.name for p in (tmp_path / "dl").iterdir() if p.name.startswith(".")] == []

    # a rerun finds everything in place: no request, same directory
    assert download_wikisql(tmp_path / "dl", url=server.url) == out
    assert server.ranges == [None]


def test_resumes_a_partial_file_with_a_range_request(tmp_path, server):
    half = len(server.payload) // 2
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "data.tar.bz2.part").write_bytes(server.payload[:half])
    download_wikisql(tmp_path / "dl", url=server.url,
                     expected_sha256=hashlib.sha256(server.payload).hexdigest())
    assert server.ranges == [f"bytes={half}-"]
    assert server.bytes_sent == len(server.payload) - half
    assert (tmp_path / "dl" / "data.tar.bz2").read_bytes() == server.payload


def test_server_ignoring_range_restarts_the_file(tmp_path, server):
    server.ignore_range = True
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "data.tar.bz2.part").write_bytes(b"stale bytes from elsewhere")
    download_wikisql(tmp_path / "dl", url=server.url)
    assert server.bytes_sent == len(server.payload)
    assert (tmp_path / "dl" / "data.tar.bz2").read_bytes() == server.payload


def test_complete_partial_file_is_not_fetched_again(tmp_path, server):
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "data.tar.bz2.part").write_bytes(server.payload)
    download_wikisql(tmp_path / "dl", url=server.url)
    assert server.ranges == [f"bytes={len(server.payload)}-"] and server.bytes_sent == 0
    assert (tmp_path / "dl" / "data.tar.bz2").read_bytes() == server.payload


def test_interrupted_download_keeps_the_partial_file_and_resumes(tmp_path, server):
    server.cut_after = 1000
    with pytest.raises(InputError) as caught:
        download_wikisql(tmp_path / "dl", url=server.url)
    assert "partial file is kept" in str(caught.value) and "rerun" in str(caught.value)
    part = tmp_path / "dl" / "data.tar.bz2.part"
    assert part.read_bytes() == server.payload[:1000]
    assert not (tmp_path / "dl" / "data.tar.bz2").exists()

    server.cut_after = None
    server.bytes_sent = 0
    download_wikisql(tmp_path / "dl", url=server.url)
    assert server.ranges[-1] == "bytes=1000-"
    assert server.bytes_sent == len(server.payload) - 1000
    assert (tmp_path / "dl" / "data.tar.bz2").read_bytes() == server.payload


def test_expected_checksum_mismatch(tmp_path, server):
    with pytest.raises(InputError) as caught:
        download_wikisql(tmp_path / "dl", url=server.url, expected_sha256="0" * 64)
    message = str(caught.value)
    assert "does not match the expected checksum" in message and "delete" in message
    assert caught.value.path == str(tmp_path / "dl" / "data.tar.bz2")
    assert not (tmp_path / "dl" / "wikisql").exists()


def test_recorded_checksum_catches_a_changed_archive(tmp_path, server):
    download_wikisql(tmp_path / "dl", url=server.url)
    archive = tmp_path / "dl" / "data.tar.bz2"
    data = archive.read_bytes()
    archive.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(InputError, match="recorded in data.tar.bz2.sha256"):
        download_wikisql(tmp_path / "dl", url=server.url)


def test_http_error_is_reported(tmp_path, server):
    with pytest.raises(InputError, match="HTTP 404"):
        download_wikisql(tmp_path / "dl", url=server.url.replace("data.tar", "nothing.tar"))


def hostile_archive(member: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        info = tarfile.TarInfo("data/train.jsonl")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("member", [
    tarfile.TarInfo("data/../../escaped.txt"),
    tarfile.TarInfo("/tmp/absolute.txt"),
    link("data/passwd", "/etc/passwd", tarfile.SYMTYPE),
    link("data/up", "../../outside", tarfile.SYMTYPE),
    link("data/hard", "../outside", tarfile.LNKTYPE),
], ids=["dotdot", "absolute", "symlink-absolute", "symlink-up", "hardlink-up"])
def test_unsafe_archives_are_refused(tmp_path, server, member):
    server.payload = hostile_archive(member)
    with pytest.raises(InputError, match="archive"):
        download_wikisql(tmp_path / "dl", url=server.url)
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == [
        "data.tar.bz2", "data.tar.bz2.sha256"]
    assert not (tmp_path / "escaped.txt").exists()
