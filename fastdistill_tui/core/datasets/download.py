"""Download and unpack the official WikiSQL archive (`fastdistill data get wikisql`).

The archive streams into `data.tar.bz2.part`; a rerun resumes it with a Range request (a server
that ignores Range and answers 200 restarts it). The finished file is renamed, its sha256
recorded in `data.tar.bz2.sha256` and checked on every later run, and it is unpacked through a
temp directory that is renamed into place, refusing members that would land outside it.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import httpx

from ..artifacts import file_sha256
from ..errors import InputError

WIKISQL_URL = "https://github.com/salesforce/WikiSQL/raw/master/data.tar.bz2"
ARCHIVE_NAME = "data.tar.bz2"

Progress = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None)


def download_wikisql(dest_dir: Path, *, url: str = WIKISQL_URL,
                     progress: Progress | None = None,
                     expected_sha256: str | None = None) -> Path:
    """Fetch (or resume), verify and unpack WikiSQL; returns the directory for `wikisql:DIR`."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / ARCHIVE_NAME
    if not archive.exists():
        part = dest_dir / (ARCHIVE_NAME + ".part")
        _fetch(url, part, progress)
        os.replace(part, archive)
    _verify(archive, expected_sha256)
    target = dest_dir / "wikisql"
    if not target.is_dir():
        _extract(archive, target)
    return target


def _fetch(url: str, part: Path, progress: Progress | None) -> None:
    """Stream url into part, resuming from its current size when the server allows it."""
    try:
        with httpx.Client(follow_redirects=True,
                          timeout=httpx.Timeout(30.0, read=120.0)) as client:
            if not _stream_into(client, url, part, progress):
                part.unlink()  # the partial file does not fit what the server sends
                _stream_into(client, url, part, progress)
    except httpx.HTTPError as exc:
        kept = part.exists() and part.stat().st_size > 0
        raise InputError(f"download of {url} failed: {exc.__class__.__name__}: {exc}",
                         path=str(part),
                         hint="the partial file is kept; rerun the command to resume the "
                              "download" if kept else
                              "check the network or give another --url, then rerun") from None


def _stream_into(client: httpx.Client, url: str, part: Path,
                 progress: Progress | None) -> bool:
    """One GET, appending to part from its size; False when it must restart from byte 0."""
    done = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={done}-"} if done else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and done:
            return _content_range_total(response) == done  # already complete?
        if response.status_code not in (200, 206):
            raise InputError(f"download failed: HTTP {response.status_code} from {url}",
                             path=str(part), hint="check the URL or try again later")
        if response.status_code == 206 and _content_range_start(response) != done:
            return False
        if response.status_code == 200:
            done = 0  # Range ignored: the whole file comes again
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else None
        with open(part, "ab" if done else "wb") as fh:
            for chunk in response.iter_bytes():  # as received: a cut keeps every byte
                fh.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    if total is not None and done != total:
        raise InputError(f"download incomplete: {done:,} of {total:,} bytes", path=str(part),
                         hint="the partial file is kept; rerun the command to resume")
    return True


def _content_range_start(response: httpx.Response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _content_range_total(response: httpx.Response) -> int | None:
    match = re.search(r"/(\d+)\s*$", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _verify(archive: Path, expected: str | None) -> None:
    """Check the archive against the expected and the recorded sha256; record it if new."""
    record = archive.with_name(archive.name + ".sha256")
    digest = file_sha256(archive)
    recorded = record.read_text(encoding="utf-8").split()[0] if record.exists() else None
    for want, source in ((expected, "the expected checksum"),
                         (recorded, f"the checksum recorded in {record.name}")):
        if want and digest != want.strip().lower():
            raise InputError(f"sha256 {digest} does not match {source} ({want.strip()})",
                             path=str(archive),
                             hint=f"the file is corrupt or changed: delete {archive} and "
                                  f"{record.name}, then rerun to download it again")
    if recorded is None:
        tmp = record.with_name(record.name + ".tmp")
        tmp.write_text(f"{digest}  {archive.name}\n", encoding="utf-8")
        os.replace(tmp, record)


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse absolute paths, `..`, links that leave the archive root, and special files."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or re.match(r"^[A-Za-z]:", member.name):
        raise InputError(f"unsafe path in archive: {member.name!r}", path=str(archive),
                         hint="the archive is not the official WikiSQL one; delete it")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = name.parent if member.issym() else PurePosixPath()
        parts = (base / target).parts
        depth = 0
        for part in parts:
            depth += -1 if part == ".." else 0 if part == "." else 1
            if depth < 0:
                break
        if target.is_absolute() or depth < 0:
            raise InputError(f"link in archive points outside it: {member.name!r} -> "
                             f"{member.linkname!r}", path=str(archive),
                             hint="the archive is not the official WikiSQL one; delete it")
    elif not (member.isfile() or member.isdir()):
        raise InputError(f"special file in archive: {member.name!r}", path=str(archive),
                         hint="the archive is not the official WikiSQL one; delete it")


def _extract(archive: Path, target: Path) -> None:
    """Unpack the archive's data/ directory into target via a temp dir and one rename."""
    tmp = target.with_name(f".{target.name}-extract-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **extra)
        data = tmp / "data"
        if not data.is_dir() or not any(data.glob("*.jsonl")):
            raise InputError("archive has no data/*.jsonl files", path=str(archive),
                             hint="expected WikiSQL's layout: data/train.jsonl, "
                                  "data/train.tables.jsonl, ...")
        os.replace(data, target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"cannot unpack the archive: {exc}", path=str(archive),
                         hint=f"delete {archive} and rerun to download it again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
