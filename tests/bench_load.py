"""For `make bench` only: a load generator in Python (threads and http.client, one connection per request as a
sync gunicorn worker closes them) and a gunicorn with 2 workers to point it at.

`served(app_path, path, ...)` starts gunicorn on a free port (sync workers, or gthread with `threads` > 1), warms
it, sends requests from `connections` threads for `seconds`, stops it, and returns requests per second, the median
and p90 latency and the workers' peak resident memory."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    worker_rss_mib: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p90_ms(self) -> float:
        return sorted(self.latencies)[int(len(self.latencies) * 0.9)] * 1000 if self.latencies else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, headers: dict[str, str]) -> int:
    """One GET; like a browser, the client keeps a session cookie the server sends again (re-signed when the
    session's last-seen time moves, every `portal.security.SEEN_EVERY` seconds) and sends it from then on."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Connection": "close", **headers})
        response = connection.getresponse()
        response.read()
        renewed = response.getheader("Set-Cookie")
        kept = renewed.split(";", 1)[0] if renewed else ""
        if ("Cookie" in headers and kept.split("=", 1)[0] == headers["Cookie"].split("=", 1)[0]
                and kept.split("=", 1)[1:] not in ([], [""])):  # a cleared cookie (signed out) is not kept
            headers["Cookie"] = kept  # one assignment: the threads share the dict
        return response.status
    finally:
        connection.close()


def _children_rss(pid: int) -> list[float]:
    """Peak resident memory (VmHWM) of gunicorn's workers, in MiB."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return out


def served(app_path: str, path: str, *, env: dict[str, str], headers: dict[str, str] | None = None,
           connections: int = 20, seconds: float = 10.0, workers: int = 2, threads: int = 1) -> Served:
    headers = dict(headers or {})  # its cookie is renewed as a browser would (`_get`)
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
        [str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
         *(["-k", "gthread", "--threads", str(threads)] if threads > 1 else []),
         "--backlog", "256", "--log-level", "warning", app_path],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while True:
            try:
                status = _get(port, path, headers)
                break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start: " + (process.stderr.read().decode() if process.stderr else "")) from None
                time.sleep(0.2)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
        for _ in range(workers * 4):  # warm every worker (first requests build caches)
            _get(port, path, headers)
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        stop = time.perf_counter() + seconds

        def run() -> None:
            mine, failed = [], 0
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    ok = _get(port, path, headers) == 200
                except OSError:
                    ok = False
                if ok:
                    mine.append(time.perf_counter() - start)
                else:
                    failed += 1
            with lock:
                latencies.extend(mine)
                errors[0] += failed

        started = time.perf_counter()
        threads = [threading.Thread(target=run) for _ in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        return Served(len(latencies), errors[0], elapsed, latencies, _children_rss(process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def worker_peak(app_path: str, paths: list[str], *, env: dict[str, str], headers: dict[str, str] | None = None,
                timings: dict[str, list[float]] | None = None, repeat: int = 1) -> float:
    """Peak resident memory (MiB) of one gunicorn worker after it has served each path `repeat` times: what a
    download costs the process that serves it (the bench's own process also seeded and aggregated). `timings`
    receives each path's durations over HTTP."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
        [str(Path(sys.executable).parent / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "--timeout", "120",
         "--log-level", "warning", app_path],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        for path in [p for p in paths for _ in range(repeat)]:
            while True:
                try:
                    start = time.perf_counter()
                    status = _get(port, path, headers or {})
                    if timings is not None:
                        timings.setdefault(path, []).append(time.perf_counter() - start)
                    break
                except OSError:
                    if time.time() > deadline or process.poll() is not None:
                        raise RuntimeError("gunicorn did not start") from None
                    time.sleep(0.2)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
        return max(_children_rss(process.pid), default=float("nan"))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
