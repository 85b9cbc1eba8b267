"""Screenshot the built book in headless Chromium, page by page, to look at it as a reader would.

Usage
-----
``python tools/screenshots.py`` after ``make book`` writes PNGs of the landing page and every notebook page to
``_build/book/screenshots/``: ``<page>-01.png``, ``<page>-02.png``, ... cut from the full page, one viewport
each (``--tiles 0`` keeps all of them, the default keeps the first 6). ``--width 420`` looks at it as a phone
would. Needs Debian's Chromium (``apt-get install -y chromium``) or any Chrome/Chromium on ``PATH``; set
``CHROMIUM=/path/to/chrome`` to pick one.

It drives the browser over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no network,
standard library only) and reports, for each page, every request that was not a local file and every console
error, so a theme that reaches for the network or a broken image shows up here too.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"genindex.html", "search.html"}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str:
    """The Chromium to use: ``$CHROMIUM``, else the first of the usual names on ``PATH``."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found: apt-get install -y chromium "
                            "(or set CHROMIUM=/path/to/chrome)")


class Browser:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (fd 3: commands in, fd 4: replies out)."""

    def __init__(self, executable: str, timeout: float = 60.0):
        self.timeout = timeout
        self._next_id = 0
        self._events: list[dict] = []
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="csi-book-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # park the child's ends above 9 (close-on-exec) so that moving them to 3 and 4 clobbers neither
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)
        flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                 "--disable-sync",
                 "--remote-debugging-pipe", f"--user-data-dir={self._profile}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox

        def pipes_on_3_and_4():  # runs in the child before exec; dup2 makes inheritable copies
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.proc = subprocess.Popen([executable, *flags, "about:blank"], preexec_fn=pipes_on_3_and_4,
                                     close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(child_in)
        os.close(child_out)
        self._w = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._r = from_chrome_r

    # ---- protocol --------------------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe (did it start? try running it by hand)")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its ``result``; events arriving meanwhile are kept for ``wait_for``."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._w.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, method: str, session: str | None = None) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("method") == method and (session is None or ev.get("sessionId") == session):
                    return self._events.pop(i)
            self._events.append(self._read_message(deadline))

    def drain(self, session: str) -> list[dict]:
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._w.close()
        os.close(self._r)
        shutil.rmtree(self._profile, ignore_errors=True)

    # ---- one page --------------------------------------------------------------------------------------
    def shoot(self, url: str, out_stem: Path, width: int, height: int, tiles: int) -> dict:
        """Load ``url`` at ``width``×``height`` and save the full page as viewport-sized PNG tiles.

        Returns ``{"files": [...], "page_height": px, "remote": [urls], "errors": [messages]}``.
        """
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            for domain in ("Page", "Network", "Runtime", "Log"):
                self.send(f"{domain}.enable", session=session)
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
                      session=session)
            self.send("Page.navigate", {"url": url}, session=session)
            self.wait_for("Page.loadEventFired", session)
            self.send("Runtime.evaluate", {"expression": "document.fonts.ready.then(() => true)",
                                           "awaitPromise": True}, session=session)
            time.sleep(0.3)  # let the theme's scripts settle the layout
            size = self.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            page_h = int(size["height"])
            n = max(1, -(-page_h // height))
            if tiles:
                n = min(n, tiles)
            for old in out_stem.parent.glob(f"{out_stem.name}-[0-9][0-9].png"):  # tiles of an earlier run
                old.unlink()
            files = []
            for k in range(n):  # scroll like a reader, so sticky headers and sidebars sit where they would
                y = min(k * height, max(0, page_h - height))
                self.send("Runtime.evaluate", {"expression": f"window.scrollTo(0, {y})"}, session=session)
                time.sleep(0.15)
                shot = self.send("Page.captureScreenshot", {"format": "png"}, session=session)
                path = out_stem.with_name(f"{out_stem.name}-{k + 1:02d}.png")
                path.write_bytes(base64.b64decode(shot["data"]))
                files.append(path)
            remote, errors = [], []
            for ev in self.drain(session):
                params = ev.get("params", {})
                if ev.get("method") == "Network.requestWillBeSent":
                    req = params.get("request", {}).get("url", "")
                    if not req.startswith(("file:", "data:", "about:", "blob:")):
                        remote.append(req)
                elif ev.get("method") == "Network.loadingFailed":
                    errors.append(f"failed to load: {params.get('errorText')} ({params.get('type')})")
                elif ev.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                    entry = params["entry"]
                    errors.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
                elif ev.get("method") == "Runtime.exceptionThrown":
                    errors.append(params.get("exceptionDetails", {}).get("text", "exception"))
            return {"files": files, "page_height": page_h, "remote": remote, "errors": errors}
        finally:
            self.send("Target.closeTarget", {"targetId": target})


def pages(html: Path) -> list[Path]:
    """The landing page first, then every other top-level page but the generated index and search."""
    others = sorted(p for p in html.glob("*.html") if p.name not in SKIP | {"index.html"})
    return [html / "index.html", *others]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/screenshots.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", default=os.path.relpath(ROOT / "_build" / "book" / "html"),
                    help="the built site (default: _build/book/html)")
    ap.add_argument("--out", default=os.path.relpath(ROOT / "_build" / "book" / "screenshots"))
    ap.add_argument("--width", type=int, default=1280, help="viewport width in CSS px (420: a phone)")
    ap.add_argument("--height", type=int, default=900, help="viewport height, also the height of one tile")
    ap.add_argument("--tiles", type=int, default=6, help="tiles kept per page, from the top (0: all)")
    ap.add_argument("--only", default="", help="comma-separated page names, e.g. index,06_table3_accuracy")
    args = ap.parse_args(argv)
    html, out = Path(args.html), Path(args.out)
    if not (html / "index.html").is_file():
        print(f"error: no {html / 'index.html'}; run `make book` first", file=sys.stderr)
        return 1
    chosen = pages(html)
    if args.only:
        wanted = {s.strip().removesuffix(".html") for s in args.only.split(",") if s.strip()}
        chosen = [p for p in chosen if p.stem in wanted]
    out.mkdir(parents=True, exist_ok=True)
    browser = Browser(find_browser())
    problems = 0
    try:
        for page in chosen:
            res = browser.shoot(page.resolve().as_uri(), out / f"{page.stem}-w{args.width}", args.width,
                                args.height, args.tiles)
            print(f"{page.name:34s} {res['page_height']:6d} px high -> {len(res['files'])} PNG")
            for url in res["remote"]:
                print(f"    remote request: {url}")
            for err in res["errors"]:
                print(f"    error: {err}")
            problems += len(res["remote"]) + len(res["errors"])
    finally:
        browser.close()
    print(f"screenshots in {out}" + (f"; {problems} problem(s) above" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
