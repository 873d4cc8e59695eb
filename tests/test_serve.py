"""`fastdistill serve`: the app in a browser through textual-serve, on loopback. The page is
loaded in headless Chromium (Debian's `chromium`), which runs the page's JavaScript, opens the
websocket and draws the app; the test reads the app's text from the page and keeps a PNG."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("textual_serve", reason="pip install '.[serve]' (textual-serve)")

ARTIFACTS = Path(__file__).parent / "artifacts"
HANG_GUARD_S = 120  # only against a hang: a loaded machine passes, it just takes longer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server():
    port = free_port()
    # the app each page opens runs the default job: without its student (minutes of training)
    env = {**os.environ, "FASTDISTILL_STUDENT_ENABLED": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "fastdistill_tui", "serve", "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        try:
            page = urllib.request.urlopen(url, timeout=5).read().decode()
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the server never answered"
            time.sleep(0.2)
    yield url, port, page
    proc.terminate()
    proc.wait(10)


def test_serve_answers_on_loopback(server):
    url, port, page = server
    assert "FastDistill" in page and f"ws://127.0.0.1:{port}/ws" in page


def test_serve_is_not_reachable_from_other_addresses(server):
    url, port, page = server
    outside = next((a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None,
                                                          socket.AF_INET)
                    if not a[4][0].startswith("127.")), None)
    if outside is None:
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{outside}:{port}/", timeout=3)


#: Before the page's own script: keep what arrives over every websocket, which is what the
#: terminal in the page draws (xterm.js draws on a canvas, so the DOM holds no text).
RECORD_WEBSOCKETS = """
window.__received = [];
const Native = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new Native(...args);
  ws.addEventListener("message", async (event) => {
    const data = event.data;
    if (typeof data === "string") window.__received.push(data);
    else if (data instanceof Blob) window.__received.push(await data.text());
    else window.__received.push(new TextDecoder().decode(data));
  });
  return ws;
};
window.WebSocket.prototype = Native.prototype;
"""


async def drawn_text(browser: str, url: str, profile: Path, png: Path) -> str:
    """Open url in headless Chromium over the DevTools protocol; what the page received for its
    terminal, once the app has drawn its dashboard; a screenshot into png."""
    import asyncio
    import base64
    import json
    import re

    import aiohttp

    proc = await asyncio.create_subprocess_exec(
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
        f"--user-data-dir={profile}", "--window-size=1280,800", "about:blank",
        stderr=asyncio.subprocess.PIPE)
    try:
        devtools = None
        while devtools is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), HANG_GUARD_S)).decode()
            assert line, "chromium exited before its DevTools endpoint"
            devtools = re.search(r"ws://\S+", line)
        port = devtools.group(0).split(":")[2].split("/")[0]
        async with aiohttp.ClientSession() as http:
            targets = await (await http.get(f"http://127.0.0.1:{port}/json")).json()
            page = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                ids = iter(range(1, 10**6))

                async def call(method: str, **params):
                    mid = next(ids)
                    await ws.send_json({"id": mid, "method": method, "params": params})
                    while True:
                        reply = json.loads((await ws.receive()).data)
                        if reply.get("id") == mid:
                            return reply.get("result", {})

                await call("Page.enable")
                await call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_WEBSOCKETS)
                await call("Page.navigate", url=url)
                deadline = time.monotonic() + HANG_GUARD_S
                text = ""
                while "Teacher requests" not in text and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    result = await call("Runtime.evaluate",
                                        expression="(window.__received || []).join('')")
                    text = result.get("result", {}).get("value", "")
                shot = await call("Page.captureScreenshot", format="png")
                png.write_bytes(base64.b64decode(shot["data"]))
                return text
    finally:
        proc.terminate()
        await proc.wait()


async def test_the_app_draws_in_headless_chromium(server, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on PATH: `apt-get install chromium` (Debian) to run this test")
    url, _, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "serve.png"
    text = await drawn_text(browser, url, tmp_path / "profile", png)
    # no runs stored: the app opens on the default offline run's dashboard
    assert "FastDistill" in text and "Stages" in text and "Teacher requests" in text, text[-3000:]
    assert png.stat().st_size > 10_000  # a drawn page, not a blank one
