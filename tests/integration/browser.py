"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): load a
page, collect console errors, uncaught exceptions and failed requests, take a screenshot, read the DOM.

Chromium reads commands on fd 3 and writes replies and events on fd 4, each a JSON message ended by
a NUL byte; no port, no websocket, nothing to install beyond Debian's ``chromium`` package.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLoad:
    """What loading one page produced."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dom: str = ""
    screenshot: bytes = b""


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int, process: subprocess.Popen[bytes]) -> None:
        self.write_fd, self.read_fd, self.process = write_fd, read_fd, process
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive(30)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def receive(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                raise TimeoutError("chromium did not answer")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed the pipe")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self.receive(max(0.1, deadline - time.monotonic())))


def load(url: str, profile: Path, width: int = 1280, height: int = 900, settle: float = 1.0,
         viewport_only: bool = False, wait_for_text: str | None = None, timeout: float = 60.0) -> PageLoad:
    """Open ``url`` in a fresh headless Chromium with profile dir ``profile``; return what it saw (the
    screenshot holds the whole page, or the first ``width`` × ``height`` pixels with ``viewport_only``).
    ``wait_for_text`` waits (up to ``timeout``) until the page's text holds it: a single-page app renders
    after its load event."""
    binary = chromium()
    assert binary is not None, "chromium is not installed (make install runs tests/browser/install-chromium.sh)"
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    # Chromium expects its command pipe on fd 3 and its reply pipe on fd 4.
    def child() -> None:
        commands, replies = os.dup(to_chrome_r), os.dup(from_chrome_w)  # above 4, so neither dup2 clobbers the other
        os.dup2(commands, 3, inheritable=True)
        os.dup2(replies, 4, inheritable=True)

    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", f"--window-size={width},{height}",
         "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        pass_fds=(3, 4), preexec_fn=child,  # kept open by number: the close of other fds comes after child()
    )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(to_chrome_w, from_chrome_r, process)
    result = PageLoad()
    try:
        target = pipe.send("Target.createTarget", url="about:blank")["targetId"]
        session = pipe.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.send(f"{domain}.enable", session)
        # The viewport itself, not the window (whose toolbar-less headless size differs by a scrollbar or so).
        pipe.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        pipe.send("Page.navigate", session, url=url)
        pipe.wait_for("Page.loadEventFired", 30)
        deadline = time.monotonic() + settle  # late console messages and requests
        while time.monotonic() < deadline:
            try:
                pipe.events.append(pipe.receive(max(0.05, deadline - time.monotonic())))
            except TimeoutError:
                break
        if wait_for_text is not None:
            expression = f"document.body !== null && document.body.innerText.includes({json.dumps(wait_for_text)})"
            deadline = time.monotonic() + timeout
            while not pipe.send("Runtime.evaluate", session, expression=expression, returnByValue=True)["result"]["value"]:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        size = pipe.send("Page.getLayoutMetrics", session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": width if viewport_only else size["width"],
                "height": height if viewport_only else size["height"], "scale": 1}
        shot = pipe.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=not viewport_only, clip=clip)
        result.screenshot = base64.b64decode(shot["data"])
        result.dom = pipe.send("Runtime.evaluate", session, expression="document.documentElement.outerHTML",
                               returnByValue=True)["result"]["value"]
        for event in pipe.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                result.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                result.console_errors.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                result.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.requestWillBeSent":
                result.requests.append(str(params.get("request", {}).get("url", ""))[:120])
            elif method == "Network.loadingFailed":
                result.failed_requests.append(f"{params.get('errorText')} ({params.get('type')})")
    finally:
        try:
            pipe.send("Browser.close")
        except (TimeoutError, EOFError, RuntimeError, OSError):
            pass
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        os.close(to_chrome_w)
        os.close(from_chrome_r)
    return result


def main() -> int:
    """``python -m tests.integration.browser OUT.png``: run the demo in a scratch directory and write the top
    of its bundle page as the README's screenshot."""
    import sys
    import tempfile

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/bundle-page.png")
    runnotary = str(Path(sys.executable).with_name("runnotary"))
    with tempfile.TemporaryDirectory(prefix="runnotary-screenshot-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNOTARY_")}
        subprocess.run([runnotary, "demo", "--workdir", tmp], env=env, check=True, stdout=subprocess.DEVNULL)
        page = load((Path(tmp) / "bundle" / "demo-review" / "index.html").as_uri(), Path(tmp) / "profile",
                    viewport_only=True)
    assert not page.console_errors and not page.failed_requests, (page.console_errors, page.failed_requests)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(page.screenshot)
    print(f"wrote {out} ({len(page.screenshot)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
