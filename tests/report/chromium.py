"""A real headless Chromium, driven over the DevTools protocol, for report tests.

No download and no extra package: the Debian ``chromium`` binary is started
with ``--remote-debugging-pipe`` and spoken to over two pipes (fd 3: commands
to the browser, fd 4: replies and events, each message JSON ending in NUL),
which is what Puppeteer's ``pipe: true`` does. No port is opened.

``Browser.open(url)`` loads a page and records, while it lives, every
request the page starts (``Network.requestWillBeSent``) and those the
browser refused before sending (``loadingFailed`` with a ``blockedReason``,
e.g. ``csp``), every console
message and log entry (``Runtime.consoleAPICalled``, ``Log.entryAdded``,
including CSP violations), and uncaught exceptions. Tests then click and
type through ``Input`` events (as a user would) and read the DOM with
``Runtime.evaluate``.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
    "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for path in (os.environ.get("CARDSCAN_CHROMIUM"), *CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


class CDPError(RuntimeError):
    pass


@dataclass
class PageLog:
    """What a page did while it was open."""

    #: request id -> url of every request the page started
    attempts: dict[str, str] = field(default_factory=dict)
    #: request id -> why the browser refused it before it left (``csp``, ...)
    blocked: dict[str, str] = field(default_factory=dict)
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)

    @property
    def requests(self) -> list[str]:
        """URLs of requests that were sent (the browser did not block them first)."""
        return [url for rid, url in self.attempts.items() if rid not in self.blocked]

    def errors(self) -> list[str]:
        return [f"{level}: {text}" for level, text in self.console if level in ("error", "warning", "assert")] + \
            [f"exception: {e}" for e in self.exceptions]


class Browser:
    def __init__(self, binary: str, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="cardscan-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:  # in the child: the pipes become fds 3 and 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._stderr = open(os.path.join(self._profile, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire, close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []
        self.session: str | None = None
        self.log = PageLog()

    # -- protocol ---------------------------------------------------------------------
    def _recv(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise CDPError("chromium closed the pipe (it exited)")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg:
            self._note(msg)
        return msg

    def _note(self, msg: dict[str, Any]) -> None:
        self._events.append(msg)
        if msg.get("sessionId") != self.session:
            return
        method, p = msg["method"], msg.get("params", {})
        if method == "Network.requestWillBeSent":
            self.log.attempts[p["requestId"]] = p["request"]["url"]
        elif method == "Network.loadingFailed" and p.get("blockedReason"):
            self.log.blocked[p["requestId"]] = p["blockedReason"]
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.log.console.append((p.get("type", "log"), text))
        elif method == "Log.entryAdded":
            e = p["entry"]
            self.log.console.append((e.get("level", "info"), f"[{e.get('source')}] {e.get('text')}"))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.log.exceptions.append(str(d.get("exception", {}).get("description") or d.get("text")))

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if page and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode("utf-8") + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def wait_for(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        for i, ev in enumerate(self._events):
            if ev.get("method") == method and ev.get("sessionId") == self.session:
                return self._events.pop(i)
        while True:
            ev = self._recv(deadline)
            if ev.get("method") == method and ev.get("sessionId") == self.session:
                self._events.remove(ev)
                return ev

    def settle(self, seconds: float = 0.3) -> None:
        """Read events for a moment (late console messages, late requests)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._recv(deadline)
        except CDPError as exc:
            if "in time" not in str(exc):
                raise

    # -- pages --------------------------------------------------------------------------
    def open(self, url: str, width: int = 1400, height: int = 1000) -> PageLog:
        """Load ``url`` in a fresh tab and wait for its load event."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 page=False)["sessionId"]
        self.log = PageLog()
        self._events.clear()
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        self.settle()
        return self.log

    def eval(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CDPError(f"evaluate failed: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element ``selector`` matches."""
        box = self.eval(
            f"(function(){{var e=document.querySelector({json.dumps(selector)});if(!e)return null;"
            "e.scrollIntoView({block:'center'});var r=e.getBoundingClientRect();"
            "return [r.left+r.width/2, r.top+r.height/2];})()")
        if box is None:
            raise CDPError(f"nothing matches {selector}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
        self.settle(0.1)

    def type(self, selector: str, text: str) -> None:
        """Focus ``selector`` by clicking it, select what it holds, delete it
        with Backspace, and type ``text`` (each an input event, as from a keyboard)."""
        self.click(selector)
        self.eval(f"document.querySelector({json.dumps(selector)}).select()")
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", {"type": kind, "key": "Backspace", "code": "Backspace",
                                                 "windowsVirtualKeyCode": 8, "nativeVirtualKeyCode": 8})
        if text:
            self.call("Input.insertText", {"text": text})
        self.settle(0.1)

    def screenshot(self, path: str | Path) -> None:
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        Path(path).write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close", page=False)
        except (CDPError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
