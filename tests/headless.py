"""A headless Chromium driven over the DevTools protocol, for pages whose content comes from scripts that
fetch it after the load event (a single-page app such as `inspect view`), where `--dump-dom` shows only
the loading screen. Tests use it through `open_page`; it needs `chromium` and aiohttp (a websocket client
the `inspect` and `ray` extras bring), and the caller skips without them.

Written here because no DevTools client is installed (Playwright and Selenium would each bring their own
browser or driver); the protocol's few commands used below are stable."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

PROTOCOL_TIMEOUT_S = 30.0


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Page:
    """One tab: what it shows (its text) and every address it requested."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._next_id = 0
        self.requested: list[str] = []

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        asked = self._next_id
        await self._socket.send_json({"id": asked, "method": method, "params": params})
        while True:
            message = json.loads((await asyncio.wait_for(self._socket.receive(), PROTOCOL_TIMEOUT_S)).data)
            if message.get("method") == "Network.requestWillBeSent":
                self.requested.append(message["params"]["request"]["url"])
            if message.get("id") == asked:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def text(self) -> str:
        result = await self.command("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                                    returnByValue=True)
        return str(result["result"].get("value", ""))


def open_page(url: str, home: Path, until: Callable[[str], bool], timeout_s: float = 60.0) -> tuple[str, list[str]]:
    """Open `url` in a headless Chromium that may reach no host but this one (127.0.0.1); wait until `until(text)`
    holds for the page's text (or `timeout_s` passed): the text and the addresses the page requested."""
    return asyncio.run(_open_page(url, home, until, timeout_s))


async def _open_page(url: str, home: Path, until: Callable[[str], bool], timeout_s: float) -> tuple[str, list[str]]:
    import aiohttp

    command = [str(browser()), "--headless", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={home}", "about:blank"]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(home / "DevToolsActivePort", process)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                tab = next(target for target in await answer.json() if target["type"] == "page")
            async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                page = Page(socket)
                await page.command("Network.enable")
                await page.command("Page.navigate", url=url)
                deadline = time.monotonic() + timeout_s
                text = await page.text()
                while not until(text) and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    text = await page.text()
                return text, page.requested
    finally:
        process.kill()
        process.wait(timeout=30)


def _devtools_port(port_file: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + PROTOCOL_TIMEOUT_S
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text().splitlines()[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with status {process.returncode}")
        time.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")
