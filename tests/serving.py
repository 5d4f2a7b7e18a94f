"""A real `bertcli serve` process on a free port, for tests: started, waited for, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stderr(self) -> str:
        return self.log.read_text()

    def logged(self, needle: str, timeout: float = 10) -> bool:
        """Whether `needle` shows up in the server's stderr within `timeout` (a request's line follows its answer)."""
        deadline = time.monotonic() + timeout
        while needle not in self.stderr():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


@contextmanager
def running_server(model: Path, *args: str, tmp: Path, startup: float = 120) -> Iterator[Server]:
    import httpx

    port = free_port()
    log = tmp / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    env.pop("BERTCLI_API_KEY", None)
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, "-m", "bertcli", "serve", str(model), "--port", str(port), *args],
                                   stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tmp)
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + startup
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}: {server.stderr()}")
            try:
                if "listening on" in server.stderr():
                    httpx.get(server.url + "/health", timeout=2, headers={"X-API-Key": "k" * 20})
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not start in {startup} s: {server.stderr()}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
