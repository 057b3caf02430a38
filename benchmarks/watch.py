"""Run a benchmark step in a child process and sample the peak RSS of its process tree.

Shared by the benchmarks that measure memory per contender (clean throughput, the publisher's
day): the child's own imports and start-up stay out of its timed figures, and its memory is
its own.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Watched:
    """What a child process did: exit code, output, peak RSS of its tree and wall seconds."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: int
    seconds: float


def run_watched(command: list[str], cwd: Path, every: float = 0.05) -> Watched:
    """Run ``command``, sampling the RSS of it and its children every ``every`` seconds."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(_rss(p) for p in tree))
            except psutil.NoSuchProcess:
                return
            time.sleep(every)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    done.set()
    watcher.join()
    seconds = round(time.perf_counter() - started, 2)
    return Watched(proc.returncode, stdout, stderr, round(peak / 2**20), seconds)


def _rss(process) -> int:  # noqa: ANN001
    try:
        return process.memory_info().rss
    except Exception:  # the process ended between listing and sampling
        return 0
