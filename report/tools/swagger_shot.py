#!/usr/bin/env python3
"""A screenshot of Swagger UI after it ran a real request: GET /products opened, "Try it
out", "Execute", and the store's answer (status, headers, body) on screen.

Headless chromium cannot click by itself, so this drives it through the Chrome DevTools
Protocol over --remote-debugging-pipe (the standard library is enough: JSON messages
ended by a NUL byte on file descriptors 3 and 4). The clicks are the ones a person makes;
Swagger UI sends the request from the page and shows what came back.

    swagger_shot.py BASE_URL OUT.png        e.g. http://127.0.0.1:8080 report/build/x.png
"""

import base64
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time

# CSS pixels of the page: narrow enough that the picture is printed at about 85 % of its
# size on an A4 text width, so Swagger UI's 14 px text stays legible; drawn at twice
# that for sharpness.
WIDTH, SCALE = 800, 2
OPERATION = "#operations-products-listProducts"


class Chromium:
    """One headless chromium and one page of it, spoken to over the DevTools pipe."""

    def __init__(self, profile: str):
        # Our ends of the two pipes above fd 4, so that moving chromium's ends onto 3 and 4
        # in the child cannot overwrite one with the other.
        to_chrome_r, to_chrome_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in os.pipe())
        from_chrome_r, from_chrome_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in os.pipe())

        def pipes_on_3_and_4():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.process = subprocess.Popen(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},1000",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=pipes_on_3_and_4,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)
        self.out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self.inp = os.fdopen(from_chrome_r, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.session = None
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        attached = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)
        self.session = attached["sessionId"]

    def call(self, method: str, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.out.write(json.dumps(message).encode() + b"\0")
        while True:  # events come in between; the answer carries our id
            while b"\0" not in self.buffer:
                chunk = self.inp.read(65536)
                if not chunk:
                    sys.exit("swagger_shot: chromium closed the DevTools pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    sys.exit(f"swagger_shot: {method}: {answer['error']['message']}")
                return answer["result"]

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            sys.exit(f"swagger_shot: {expression!r} failed: {result['exceptionDetails']['text']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, seconds: float = 30):
        deadline = time.monotonic() + seconds
        while not self.js(f"!!({expression})"):
            if time.monotonic() > deadline:
                sys.exit(f"swagger_shot: no {what} within {seconds:.0f} s; is {what} on the page?")
            time.sleep(0.2)

    def close(self):
        with contextlib.suppress(OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main(base: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as profile:
        chromium = Chromium(profile)
        try:
            shoot(chromium, base, out)
        finally:
            chromium.close()


def shoot(chromium: Chromium, base: str, out: str) -> None:
    chromium.call(
        "Emulation.setDeviceMetricsOverride",
        width=WIDTH,
        height=1000,
        deviceScaleFactor=SCALE,
        mobile=False,
    )
    chromium.call("Page.navigate", url=f"{base}/ui/")
    op = f"document.querySelector('{OPERATION}')"
    chromium.wait_for(op, f"the operation {OPERATION} (GET /products)")
    chromium.js(f"{op}.querySelector('.opblock-summary-control').click()")
    chromium.wait_for(f"{op}.querySelector('.try-out__btn')", 'the "Try it out" button')
    chromium.js(f"{op}.querySelector('.try-out__btn').click()")
    chromium.wait_for(f"{op}.querySelector('.btn.execute')", 'the "Execute" button')
    chromium.js(f"{op}.querySelector('.btn.execute').click()")
    status = f"{op}.querySelector('.live-responses-table .response .response-col_status')"
    chromium.wait_for(status, "the server's response")
    code = chromium.js(f"{status}.textContent.trim()")
    if code != "200":
        sys.exit(f"swagger_shot: GET /products in Swagger UI answered {code}, not 200")
    # From the curl command to the end of the live response: the request as sent (curl,
    # URL) and the answer, without the operation's documentation around it. The answer's
    # body is cut to its first lines (Swagger UI scrolls it anyway), so that the picture
    # fits half a page at a scale where its text stays legible.
    chromium.js(
        """(() => {
          const style = document.createElement('style');
          style.textContent = `.live-responses-table .highlight-code pre
            { max-height: calc(6lh + 0.5em) !important; overflow: hidden !important; }
            .live-responses-table :is(.download-contents, .copy-to-clipboard)
            { display: none !important; }`;
          document.head.appendChild(style);
        })()"""
    )
    box = chromium.js(
        f"""(() => {{
          const curl = {op}.querySelector('.curl-command').getBoundingClientRect();
          const top = curl.top + window.scrollY - 28;
          const live = {op}.querySelector('.live-responses-table').getBoundingClientRect();
          return {{top, bottom: live.bottom + window.scrollY + 8}};
        }})()"""
    )
    shot = chromium.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={
            "x": 0,
            "y": box["top"] - 16,
            "width": WIDTH,
            "height": box["bottom"] - box["top"] + 16,
            "scale": 1,
        },
    )
    with open(out, "wb") as f:
        f.write(base64.b64decode(shot["data"]))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: swagger_shot.py BASE_URL OUT.png")
    main(*sys.argv[1:])
