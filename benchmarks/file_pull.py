"""File-pull benchmark: a large file over SFTP into raw and a PGP file decrypted, memory bounded.

Run with ``uv run python benchmarks/file_pull.py`` (``--size-mb 2048 --pgp-mb 500`` by default).
Everything runs in this process on local temporary folders, removed at the end:

- sftp: the real test SFTP server (asyncssh, aes128-ctr, a background thread of this process)
  serves one large file. Ours is adlake's production path (``RemoteStore`` over sshfs,
  ``pull_files`` into a ``Lake`` with a ``DeliveryLedger``: 4 MiB chunks, SHA-256, atomic
  write, manifest); the baseline is asyncssh's own ``SFTPClient.get()`` of the same file
  (parallel block requests, no hashing) over a fresh connection to the same server.
- pgp: a file encrypted to a fresh key pair. Ours is ``Decryptor.decrypt`` reading a local file
  stream; the baseline is ``gpg --batch --decrypt`` of the same file with the same key imported
  in a temporary GnuPG home.

It prints MB/s of each, ours / baseline, the peak RSS above the RSS before each run (sampled
with psutil every 10 ms over this process and its children), and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from adlake_tests.servers.sftp import SftpServer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MB = 1024 * 1024
BLOCK = 4 * MB
HEAD = b"id,payload\n" + b"".join(b"%d,row-%d\n" % (n, n) for n in range(1000))
TAIL = b"".join(b"%d,row-%d\n" % (n, n) for n in range(1000, 2000))
GZIP_MAGIC = b"\x1f\x8b\x08\x00"


def say(text: str) -> None:
    """One line of the human-readable report."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class RssPeak:
    """Samples the RSS of this process and its children in a thread; peak above the start."""

    def __init__(self, interval: float = 0.01) -> None:
        self._interval = interval
        self._me = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start_mb = self.peak_mb = 0.0

    def _rss_mb(self) -> float:
        total = self._me.memory_info().rss
        for child in self._me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total / MB

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_mb = max(self.peak_mb, self._rss_mb())

    def __enter__(self) -> RssPeak:
        self.start_mb = self.peak_mb = self._rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss_mb())

    @property
    def delta_mb(self) -> float:
        """Peak RSS above the RSS when the block started."""
        return round(self.peak_mb - self.start_mb, 1)


def timed(work: Callable[[], object]) -> tuple[float, RssPeak]:
    """Seconds and RSS peak of ``work``; dirty pages are flushed before, outside the time."""
    os.sync()
    with RssPeak() as rss:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    return seconds, rss


def make_large_file(path: Path, size: int, fill: str) -> str:
    """A file of ``size`` bytes with CSV lines at both ends; its SHA-256.

    ``sparse``: a hole in between (``truncate``), read by the server as zeros without disk I/O.
    ``random``: random bytes in between, written out (a 64 MiB random block, repeated).
    """
    digest = hashlib.sha256(HEAD)
    middle = size - len(HEAD) - len(TAIL)
    with path.open("wb") as out:
        out.write(HEAD)
        if fill == "sparse":
            out.truncate(len(HEAD) + middle)
            out.seek(len(HEAD) + middle)
            zeros = bytes(BLOCK)
            for start in range(0, middle, BLOCK):
                digest.update(zeros[: min(BLOCK, middle - start)])
        else:
            block = random.Random(7).randbytes(64 * MB)
            for start in range(0, middle, len(block)):
                piece = block[: min(len(block), middle - start)]
                out.write(piece)
                digest.update(piece)
        out.write(TAIL)
    digest.update(TAIL)
    return digest.hexdigest()


def sftp_bench(work: Path, size_mb: int, fill: str) -> dict:
    """Pull one large file from the test SFTP server with adlake and with asyncssh's get()."""
    from adlake.connectors.files.remote import FileRules
    from adlake.connectors.files.transfer import TransferSettings, pull_files
    from adlake.lake import Lake
    from adlake.lake.deliveries import DeliveryLedger
    from adlake_tests.file_sources import sftp_store
    from adlake_tests.servers.sftp import running_sftp

    size = size_mb * MB
    remote = work / "remote"
    (remote / "in").mkdir(parents=True)
    source = remote / "in" / "orders_big.csv"
    started = time.perf_counter()
    expected = make_large_file(source, size, fill)
    say(f"sftp: {size_mb:,} MB {fill} file made in {time.perf_counter() - started:.1f} s")
    results: dict = {"size_mb": size_mb, "fill": fill}
    with running_sftp(remote) as server:
        store = sftp_store(server)
        lake = Lake(work / "lake")
        ledger = DeliveryLedger(lake, "bench", "files")
        rules = FileRules("/in")
        files, _ = store.list(rules)
        pulled: list = []
        seconds, rss = timed(
            lambda: pulled.extend(pull_files(store, ledger, files, rules, TransferSettings("csv")))
        )
        outcome = pulled[0].outcome
        if pulled[0].action != "ingested" or outcome.delivery.sha256 != expected:
            raise SystemExit(f"our pull did not ingest the file intact: {pulled[0]}")
        lake.delete(outcome.delivery.raw_path)
        results["ours"] = figures(size, seconds, rss)

        local = work / "baseline.csv"
        baseline = asyncio.run(asyncssh_get(server, "/in/orders_big.csv", local))
        if sha256_of(local) != expected:
            raise SystemExit("asyncssh's get did not copy the file intact")
        local.unlink()
        results["baseline"] = figures(size, *baseline)
    results["ratio"] = round(results["ours"]["mb_per_s"] / results["baseline"]["mb_per_s"], 2)
    source.unlink()
    return results


async def asyncssh_get(server: SftpServer, path: str, local: Path) -> tuple[float, RssPeak]:
    """Seconds and RSS peak of asyncssh's ``SFTPClient.get()``, over a connection of its own."""
    import asyncssh

    async with (
        asyncssh.connect(
            server.host,
            server.port,
            username=server.username,
            client_keys=[asyncssh.import_private_key(server.client_private_key)],
            known_hosts=str(server.known_hosts),
            agent_path=None,
            config=None,
        ) as conn,
        conn.start_sftp_client() as sftp,
    ):
        os.sync()
        with RssPeak() as rss:
            started = time.perf_counter()
            await sftp.get(path, str(local))
            return time.perf_counter() - started, rss


def figures(size: int, seconds: float, rss: RssPeak) -> dict:
    """The figures of one timed run."""
    return {
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / MB / seconds, 1),
        "peak_rss_mb": round(rss.peak_mb, 1),
        "rss_delta_mb": rss.delta_mb,
    }


def make_gzip_like_file(path: Path, size: int) -> None:
    """Random bytes behind a gzip magic number, like the ``.csv.gz.pgp`` files partners send.

    gpg stores such a file without compressing it again, as it does a real gzip file.
    """
    with path.open("wb") as out:
        out.write(GZIP_MAGIC)
        block = random.Random(11).randbytes(64 * MB)
        for start in range(len(GZIP_MAGIC), size, len(block)):
            out.write(block[: min(len(block), size - start)])


def pgp_bench(work: Path, pgp_mb: int, repeats: int) -> dict:
    """Decrypt one encrypted file with adlake's Decryptor and with the gpg CLI, ``repeats`` times.

    The figures are those of the median time; the RSS is the largest of the runs.
    """
    from adlake.connectors.pgp import Decryptor, PgpKeys
    from adlake_tests.pgp_keys import (
        encrypt_file,
        gpg_agents_of,
        gpg_home,
        make_key_pair,
        run_gpg,
    )

    size = pgp_mb * MB
    plain = work / "plain.csv.gz"
    started = time.perf_counter()
    make_gzip_like_file(plain, size)
    keys = make_key_pair("Adlake", "bench-passphrase-3f9")
    encrypted = work / "plain.csv.gz.pgp"
    encrypt_file(plain, encrypted, keys.public)
    say(f"pgp: {pgp_mb:,} MB file made and encrypted in {time.perf_counter() - started:.1f} s")
    results: dict = {"size_mb": pgp_mb, "encrypted_mb": round(encrypted.stat().st_size / MB, 1)}
    plain_sha = sha256_of(plain)
    plain.unlink()

    outputs = {"ours": work / "ours.csv.gz", "baseline": work / "gpg.csv.gz"}
    runs: dict[str, list[tuple[float, RssPeak]]] = {"ours": [], "baseline": []}
    keyring = PgpKeys(keys.private, keys.passphrase)
    with Decryptor(keyring) as decryptor, gpg_home() as home:
        homes = [decryptor.home, str(home)]
        (home / "passphrase").write_text(keys.passphrase)
        secret = ["--passphrase-file", str(home / "passphrase")]
        run_gpg(home, *secret, "--import", input=keys.private.encode())
        command = [
            "gpg", "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback",
            *secret, "--yes", "--output", str(outputs["baseline"]), "--decrypt", str(encrypted),
        ]  # fmt: skip

        def ours() -> None:
            with encrypted.open("rb") as stream:
                decryptor.decrypt(stream, str(outputs["ours"]))

        def baseline() -> None:
            subprocess.run(command, capture_output=True, check=True)

        for _ in range(repeats):  # alternated, so that neither always runs on a colder cache
            for who, work_once in (("ours", ours), ("baseline", baseline)):
                runs[who].append(timed(work_once))
                if sha256_of(outputs[who]) != plain_sha:
                    raise SystemExit(f"{who}: the decrypted file is not the plain file")
                outputs[who].unlink()
    for who, timings in runs.items():
        seconds = statistics.median(t for t, _ in timings)
        results[who] = figures(size, seconds, max((rss for _, rss in timings), key=_delta))
        results[who]["runs_seconds"] = [round(t, 2) for t, _ in timings]
    results["ratio"] = round(results["ours"]["mb_per_s"] / results["baseline"]["mb_per_s"], 2)
    results["gpg_agents_left"] = sum(len(gpg_agents_of(home)) for home in homes if home)
    return results


def _delta(rss: RssPeak) -> float:
    return rss.delta_mb


def sha256_of(path: Path) -> str:
    """SHA-256 of a local file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def report(name: str, results: dict) -> None:
    """Print one benchmark's two contenders and their ratio."""
    for who in ("ours", "baseline"):
        f = results[who]
        say(
            f"{name:>5} {who:>8}: {f['seconds']:7.2f} s, {f['mb_per_s']:7.1f} MB/s, "
            f"peak RSS {f['peak_rss_mb']:7.1f} MB (+{f['rss_delta_mb']:.1f} MB during the run)"
        )
    say(f"{name:>5} ours / baseline throughput: {results['ratio']:.2f}")


def main() -> None:
    """Run the SFTP and PGP benchmarks; print figures and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048, help="SFTP file size in MiB")
    parser.add_argument("--pgp-mb", type=int, default=500, help="PGP plain file size in MiB")
    parser.add_argument(
        "--pgp-runs", type=int, default=3, help="decryptions of each contender (median kept)"
    )
    parser.add_argument(
        "--fill",
        choices=("sparse", "random"),
        default="random",
        help="the middle of the SFTP file: a hole (truncate) or random bytes written out",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adlake-bench-") as folder:
        work = Path(folder)
        sftp = sftp_bench(work, args.size_mb, args.fill)
        report("sftp", sftp)
        size = sftp["size_mb"]
        sftp["rss_delta_of_file"] = round(sftp["ours"]["rss_delta_mb"] / size, 4)
        say(
            f" sftp ours: RSS grew by {sftp['ours']['rss_delta_mb']:.1f} MB for a {size:,} MB "
            f"file ({100 * sftp['rss_delta_of_file']:.2f}% of its size)"
        )
        pgp = pgp_bench(work, args.pgp_mb, args.pgp_runs)
        report("pgp", pgp)
        say(f"  pgp gpg agents left running: {pgp['gpg_agents_left']}")
    summary = {"benchmark": "file_pull", "sftp": sftp, "pgp": pgp}
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
