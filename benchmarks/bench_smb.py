"""SMB: sweeping a share over the network vs copying it down and scanning locally.

A real Samba server on loopback (tests/samba.py: smbd as root, its own
config, users and shares under a temp dir) serves bench_scale.py's
small-file tree (log lines, one file in ten with a planted PAN; cached under
``benchmarks/data/``). In the same run, each row timed ``--repeat`` times
(median, wall clock, the CLI started fresh each time):

* ``smb sweep``: ``cardscan scan smb://USER@127.0.0.1:PORT/data/tree/``
  (listing, one security-descriptor read per file, SID names, reads);
* ``smb sweep, no exposure``: the same with ``--no-exposure`` (the source's
  ``exposure=False``: what the ACL reads cost);
* ``mget + local scan``: ``smbclient``'s recursive ``mget`` of the same tree
  to a local directory, then ``cardscan scan`` of that directory: the
  "copy it down first" baseline the ratio is taken against.

Every row must find the same planted numbers (checked by fingerprint).
Loopback hides network latency: on a real network each SMB round trip
costs more, and the per-file figure grows with it (the descriptor read adds
one round trip per file; ``exposure=False`` removes it).

    sudo python benchmarks/bench_smb.py                 # 500 files, --jobs 2, 3 repeats
    sudo python benchmarks/bench_smb.py --files 2000 --jobs 1 --repeat 5
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from bench_scale import KEY, ensure_tree  # noqa: E402

from tests.samba import SambaServer, unavailable  # noqa: E402


def timed(fn: Callable[[], None], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def fingerprints(manifest: Path) -> set[str]:
    return {r["fingerprint"] for r in map(json.loads, manifest.read_text().splitlines()) if r["type"] == "finding"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=500, help="small files in the tree (default 500)")
    ap.add_argument("--jobs", type=int, default=2, help="cardscan --jobs for every row (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row (default 3; the median counts)")
    args = ap.parse_args()
    reason = unavailable()
    if reason:
        print(f"bench_smb: cannot start Samba: {reason}", file=sys.stderr)
        return 2
    tree, planted = ensure_tree(args.files, print)
    tmp = Path(tempfile.mkdtemp(prefix="cardscan-bench-smb-"))
    os.chmod(tmp, 0o755)  # smbd's users must traverse to the share
    server = SambaServer(tmp / "samba")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": KEY.decode()}
    try:
        server.start()
        share_tree = server.shares["data"] / "tree"
        shutil.copytree(tree, share_tree)
        for dirpath, _, _ in os.walk(share_tree):
            os.chmod(dirpath, 0o755)
        user = server.reader
        env["CARDSCAN_SMB_PASSWORD"] = user.password  # never on a command line
        url = server.url("data", "tree/", user)
        cli = [sys.executable, "-m", "cardscan", "scan", "--jobs", str(args.jobs), "--no-progress", "-q"]
        out = tmp / "out"
        out.mkdir()

        def smb_sweep() -> None:
            subprocess.run(cli + [url, "--manifest", str(out / "smb.jsonl")], env=env, check=False)

        def smb_no_exposure() -> None:
            subprocess.run(cli + [url, "--no-exposure", "--manifest", str(out / "smb-noexp.jsonl")], env=env,
                           check=True)

        local = tmp / "copy"

        def mget_only() -> None:
            shutil.rmtree(local, ignore_errors=True)
            local.mkdir()
            # The password through the environment (PASSWD), never on a command line.
            got = subprocess.run(["smbclient", f"//{server.host}/data", "-p", str(server.port), "-U", user.name,
                                  "-c", f"prompt OFF; recurse ON; lcd {local}; cd tree; mget *"],
                                 env={**env, "PASSWD": user.password}, capture_output=True, text=True)
            if got.returncode != 0:
                raise RuntimeError(f"smbclient mget failed: {got.stdout[-500:]} {got.stderr[-500:]}")

        def mget_and_scan() -> None:
            mget_only()
            subprocess.run(cli + [str(local), "--manifest", str(out / "local.jsonl")], env=env, check=False)

        rows = [("smb sweep", smb_sweep), ("smb sweep, no exposure", smb_no_exposure),
                ("mget + local scan", mget_and_scan), ("  of which mget", mget_only)]
        results = {}
        for name, fn in rows:
            fn()  # warm-up: page cache, smbd's caches, Python's bytecode
            results[name] = statistics.median(timed(fn, args.repeat))
        want = fingerprints(out / "local.jsonl")
        assert len(want) == planted, f"local scan found {len(want)} of {planted} planted numbers"
        for name in ("smb.jsonl", "smb-noexp.jsonl"):
            got = fingerprints(out / name)
            assert got == want, f"{name}: {len(got)} findings, local scan {len(want)}"
        base = results["mget + local scan"]
        print(f"\nSMB on loopback: {args.files} files, {planted} planted PANs, --jobs {args.jobs}, "
              f"median of {args.repeat}, Samba {subprocess.run(['smbd', '--version'], capture_output=True, text=True).stdout.strip()}")
        print(f"{'row':28} {'seconds':>8} {'files/s':>8} {'vs mget+scan':>13}")
        for name, secs in results.items():
            print(f"{name:28} {secs:8.2f} {args.files / secs:8.0f} {secs / base:12.2f}x")
        return 0
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
