"""Shared helpers for the benchmark: a simulator process, timed child processes, the load's parameters."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN = "sk-admin-sandbox-0000000000000000"
DAY = 86400
# A fixed clock keeps every run of the benchmark on the same organization.
NOW = 1795996800 + 12 * 3600  # 2026-11-24 12:00 UTC


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    stdout: str
    returncode: int


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> Measured:
    """Run a child process; wall time and its own peak RSS (from wait4, not the whole tree)."""
    full_env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    seconds = time.perf_counter() - t0
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN as a maximum over children so far,
    # so measured runs read their own peak from /proc via the wrapper below instead.
    peak = _peak_from_output(out)
    return Measured(seconds, peak, out, proc.returncode)


def _peak_from_output(out: str) -> float:
    for line in reversed(out.splitlines()):
        if line.startswith("PEAK_RSS_MB="):
            return float(line.split("=", 1)[1])
    return float("nan")


def peak_rss_wrapper(py: str = sys.executable) -> list[str]:
    """Prefix for a Python child (of the interpreter `py`) that prints its own peak RSS (VmHWM) on exit."""
    return [py, str(ROOT / "bench" / "peak.py")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def simulator(*args: str):
    """The simulator in its own process, so it never competes with the measured process for the GIL."""
    port = free_port()
    cmd = [str(BIN / "openai-usage"), "sandbox", "--port", str(port), "--now", str(NOW), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/_sim/stats", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def baseline_args(*, workdir: bool = False) -> argparse.Namespace:
    """The command line both baselines share, so run.py can call them the same way."""
    ap = argparse.ArgumentParser()
    for name in ("--base-url", "--key", "--db"):
        ap.add_argument(name, required=True)
    ap.add_argument("--start", type=int, required=True)
    ap.add_argument("--end", type=int, required=True)
    ap.add_argument("--width", default="1d")
    ap.add_argument("--endpoints", default="")
    if workdir:
        ap.add_argument("--workdir", required=True)
    return ap.parse_args()
