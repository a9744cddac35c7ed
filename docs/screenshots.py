"""Open every page of the built site in headless Chromium, as a reader would, and keep a
screenshot of each: the page must load, lay out (the theme's stylesheet applied) and show every
image (each ``<img>`` decoded, with a non-zero size).

    python docs/screenshots.py [--site site] [--out runs/site-screenshots]   # or: make docs-check

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``), so nothing
listens on a port and nothing outside the machine is reached. When no Chromium is installed
(``apt-get install chromium``) the check is skipped with a message and exit status 0; every other
failure is exit status 1 with one line per page. docs/check_site.py makes the same link checks
without a browser.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
WIDTH, HEIGHT = 1280, 2000

# Run in the page after it has loaded: what a reader would see broken.
PROBE = """(() => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
  const styled = getComputedStyle(document.body).fontFamily !== '' &&
                 document.querySelector('.md-header') !== null &&
                 getComputedStyle(document.querySelector('.md-header')).position !== 'static';
  return {title: document.title, images: images.length, broken: broken, styled: styled,
          text: document.body.innerText.length};
})()"""


class Browser:
    """One headless Chromium, spoken to with DevTools protocol messages on two pipes."""

    def __init__(self, executable: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="rampup-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child gets the pipes as fds 3 (commands in) and 4 (replies out).
        def wire() -> None:
            # Copies first, so that neither end is overwritten if the pipes already sit on 3 or 4.
            commands, replies = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(commands, 3)
            os.dup2(replies, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self._process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
             "--allow-file-access-from-files", f"--user-data-dir={self._profile.name}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # os.pipe() descriptors are closed on exec; only the two dup2 copies stay open.
            preexec_fn=wire, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def call(self, method: str, session: str | None = None, timeout: float = 60.0,
             **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return dict(reply.get("result", {}))
            self._events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self._events[: i + 1]
                    return
            self._events.clear()
            self._events.append(self._read(deadline))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already gone: nothing to close
            self.call("Browser.close", timeout=10)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()


def shoot(browser: Browser, page: Path, out: Path) -> dict[str, Any]:
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    try:
        browser.call("Page.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=HEIGHT,
                     deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", session, url=page.as_uri())
        browser.wait_for("Page.loadEventFired", session)
        found = browser.call("Runtime.evaluate", session, expression=PROBE, returnByValue=True)
        result = dict(found["result"]["value"])
        shot = browser.call("Page.captureScreenshot", session, format="png")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))
        return result
    finally:
        browser.call("Target.closeTarget", targetId=target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", type=Path, default=ROOT / "site")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "site-screenshots")
    args = parser.parse_args(argv)
    executable = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if executable is None:
        print("docs-check: skipped: no Chromium found (apt-get install chromium); "
              "docs/check_site.py has checked the links without a browser")
        return 0
    site = args.site.resolve()
    pages = sorted(p for p in site.rglob("*.html") if p != site / "404.html")
    if not pages:
        print(f"docs-check: {site} holds no built site (run `make docs`)", file=sys.stderr)
        return 1
    if args.out.exists():
        shutil.rmtree(args.out)
    problems = []
    images = 0
    browser = Browser(executable)
    try:
        for page in pages:
            name = page.relative_to(site).with_suffix(".png")
            seen = shoot(browser, page, args.out / name)
            images += seen["images"]
            where = page.relative_to(site)
            if seen["broken"]:
                problems.append(f"{where}: images not shown: {', '.join(seen['broken'])}")
            if not seen["styled"]:
                problems.append(f"{where}: the theme's layout is missing (stylesheet not applied)")
            if seen["text"] < 100:
                problems.append(f"{where}: almost no text ({seen['text']} characters)")
    finally:
        browser.close()
    for problem in problems:
        print(f"docs-check: {problem}", file=sys.stderr)
    print(f"docs-check: {len(pages)} pages opened in {Path(executable).name}, {images} images, "
          f"{len(problems)} problem(s); screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
