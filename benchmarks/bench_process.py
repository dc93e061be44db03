"""Whole process against whole process: the cardscan CLI vs ripgrep + a Luhn filter.

What a user compares: the time from typing the command to getting the
prompt back, start-up and output included, on the same input in the same
run. Every command runs through ``hyperfine`` (stdout to a pipe it drains,
``--output=pipe``), in rounds: each round times every command once, so a
neighbour's load falls on all of them alike; the table gives the median over
the rounds, and ("paired") the median of each round's own ratio to rg.
Commands, exactly as run (``CARDSCAN_FINGERPRINT_KEY`` set to the benchmark
key in the environment of every command, so cardscan makes no key and its
findings can be scored):

``cardscan scan --jobs 1 --manifest M.jsonl FILE``
    one process, every rule on (issuer table, Luhn, grouping, UTF-16, track
    data, inline encodings, context, columns), the 0600 manifest with object
    identity (SHA-256) and exposure; the text report on stdout.
``cardscan scan --manifest M.jsonl FILE``
    the default ``--jobs`` (all cores: byte ranges of 64 MiB on 2 workers).
``rg --no-config -o -N --no-filename '\\b[2-6](?:[0-9][ -]?){11,17}[0-9]\\b' FILE | python3 -S luhn_filter.py``
    ripgrep's default (Rust, finite automata) engine: the naive card pattern
    of bench_engine.py with word boundaries for its look-arounds, which that
    engine lacks; among the patterns we tried it is as fast as any with the
    same recall (README). ``luhn_filter.py`` is a table-driven stdlib Luhn
    filter; it runs on the second core and keeps up with rg.
``rg ... -P '(?<![0-9])[2-6](?:[0-9][ -]?){11,17}[0-9](?![0-9])' FILE | python3 -S luhn_filter.py``
    PCRE2, the configuration earlier reports compared with.
``rg ... FILE`` alone
    the pipeline's floor, for reference: its candidates are not Luhn-checked.
``rg -z ...`` on ``app.log.gz``
    ripgrep decompresses through ``gzip -dc`` in a child process.
a tree of small files
    ``cardscan scan --manifest M DIR`` (default and ``--jobs 1``) vs
    ``rg --no-config -o -N --with-filename '<pattern>' DIR | python3 -S luhn_filter.py``
    (ripgrep walks the tree with all cores).

Besides the time, one untimed run of each command is scored against what
was planted (log: recall and extra findings by HMAC fingerprint; tree: files
found and numbers reported). ``--profile`` prints where one
``cardscan scan --jobs 1`` of the log spends its time (profile_process.py).

    python benchmarks/bench_process.py                    # 256 MB log + .gz, 20,000 files, 5 rounds
    python benchmarks/bench_process.py --size-mb 64 --rounds 3 --only log
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import generate  # noqa: E402

MB = 1 << 20
#: ripgrep's default engine has no look-arounds: word boundaries stand in for them.
RG_PATTERN = r"\b[2-6](?:[0-9][ -]?){11,17}[0-9]\b"
#: PCRE2: the naive pattern of bench_engine.py as it is.
PCRE_PATTERN = r"(?<![0-9])[2-6](?:[0-9][ -]?){11,17}[0-9](?![0-9])"
FILTER = HERE / "luhn_filter.py"
KEY_ENV = "CARDSCAN_FINGERPRINT_KEY"


@dataclass
class Command:
    name: str
    label: str
    shell: str  # exactly what runs, under sh -c
    cardscan: bool
    manifest: Path | None = None
    #: hyperfine's CPU time counts the processes it (and they) wait for; pool
    #: workers behind a fork server are not among them.
    cpu_counted: bool = True


@dataclass
class Row:
    command: Command
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system, whole process tree
    score: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def cardscan_exe() -> list[str]:
    exe = Path(sys.executable).parent / "cardscan"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cardscan"]


def q(*parts: object) -> str:
    return " ".join(shlex.quote(str(p)) for p in parts)


def rg_pipe(target: Path, *flags: str, pattern: str = RG_PATTERN) -> str:
    rg = q("rg", "--no-config", "-o", "-N", *flags, "-e", pattern, target)
    return f"{rg} | {q(sys.executable, '-S', FILTER)}"


def log_commands(log: Path, tmp: Path) -> list[Command]:
    cs = cardscan_exe()
    m1, m2 = tmp / "log-j1.jsonl", tmp / "log-jN.jsonl"
    return [
        Command("cardscan-j1", "cardscan scan --jobs 1", q(*cs, "scan", "--jobs", "1", "--manifest", m1, log), True, m1),
        Command("cardscan", "cardscan scan (default --jobs)", q(*cs, "scan", "--manifest", m2, log), True, m2, False),
        Command("rg", "rg (default engine) | luhn_filter", rg_pipe(log, "--no-filename"), False),
        Command("rg-P", "rg -P (PCRE2) | luhn_filter", rg_pipe(log, "--no-filename", "-P", pattern=PCRE_PATTERN),
                False),
        # The pipeline's floor: ripgrep alone, its candidates unfiltered. With
        # a second core free the pipeline runs at about this speed; without
        # one, at the sum of both processes' CPU time.
        Command("rg-alone", "rg alone, no Luhn filter (reference)",
                q("rg", "--no-config", "-o", "-N", "--no-filename", "-e", RG_PATTERN, log), False),
    ]


def gz_commands(gz: Path, tmp: Path) -> list[Command]:
    cs = cardscan_exe()
    m = tmp / "gz-j1.jsonl"
    return [
        Command("cardscan-j1", "cardscan scan --jobs 1 (.gz)", q(*cs, "scan", "--jobs", "1", "--manifest", m, gz), True, m),
        Command("rg", "rg -z (default engine) | luhn_filter", rg_pipe(gz, "--no-filename", "-z"), False),
    ]


def tree_commands(tree: Path, tmp: Path) -> list[Command]:
    cs = cardscan_exe()
    m1, m2 = tmp / "tree-jN.jsonl", tmp / "tree-j1.jsonl"
    return [
        Command("cardscan", "cardscan scan (default --jobs)", q(*cs, "scan", "--manifest", m1, tree), True, m1, False),
        Command("cardscan-j1", "cardscan scan --jobs 1", q(*cs, "scan", "--jobs", "1", "--manifest", m2, tree), True, m2),
        Command("rg", "rg (default engine, all cores) | luhn_filter", rg_pipe(tree, "--with-filename"), False),
    ]


# -- inputs --------------------------------------------------------------------------


def ensure_gz(log: Path) -> Path:
    """``app.log.gz`` beside the log (level 6, as gzip's default), remade when older."""
    gz = log.with_name(log.name + ".gz")
    if not gz.exists() or gz.stat().st_mtime < log.stat().st_mtime:
        part = gz.with_name(gz.name + ".part")
        with open(log, "rb") as src, open(part, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                                          mtime=0) as out:
            shutil.copyfileobj(src, out, 4 * MB)
        part.replace(gz)
    return gz


def warm(path: Path) -> None:
    paths = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file())
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(8 * MB):
                pass


def tree_bytes(tree: Path) -> tuple[int, int]:
    n = size = 0
    for p in tree.rglob("*"):
        if p.is_file():
            n += 1
            size += p.stat().st_size
    return n, size


# -- timing --------------------------------------------------------------------------


def env() -> dict[str, str]:
    e = dict(os.environ)
    e[KEY_ENV] = generate.BENCH_KEY.decode()
    # An installed package has its bytecode cached; with this set (as in some
    # sandboxes) every start recompiles ~50 modules: +0.1 s per command.
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    # Likewise a sandbox's unbuffered output (a user's shell does not set it):
    # every line printed would be a system call, in cardscan and in the filter.
    e.pop("PYTHONUNBUFFERED", None)
    return e


def hyperfine_round(commands: list[Command], tmp: Path) -> list[tuple[float, float]]:
    """One timed run of each command: [(wall s, user+sys s)]."""
    out = tmp / "hyperfine.json"
    argv = ["hyperfine", "--runs", "1", "--output=pipe", "--ignore-failure", "--style", "none",
            "--export-json", str(out)]
    for c in commands:
        argv += ["--command-name", c.name, c.shell]
    # stderr kept for a failure: hyperfine warns on every run of cardscan, which exits 1 when it finds cards.
    # cwd: a scratch directory, as a user's working directory holds no cardscan
    # settings; from this repository's root cardscan would read its pyproject.toml.
    done = subprocess.run(argv, env=env(), cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"hyperfine failed: {done.stderr.decode(errors='replace')[-2000:]}")
    data = json.loads(out.read_text())["results"]
    res = []
    for c, r in zip(commands, data):
        codes = r.get("exit_codes") or [0]
        # cardscan exits 1 when it finds something; rg's pipeline exits with the filter's status.
        if any(code not in (0, 1) for code in codes):
            again = subprocess.run(c.shell, shell=True, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   check=False)
            raise RuntimeError(f"{c.name} exited with {codes}: {c.shell}\n(again: {again.returncode}, "
                               f"{again.stderr.decode(errors='replace')[-1000:]})")
        res.append((r["times"][0], r["user"] + r["system"]))
    return res


def measure(commands: list[Command], rounds: int, tmp: Path, log=print) -> list[Row]:
    rows = [Row(c) for c in commands]
    hyperfine_round(commands, tmp)  # warm-up round, untimed
    for i in range(rounds):
        for row, (wall, cpu) in zip(rows, hyperfine_round(commands, tmp)):
            row.seconds.append(wall)
            row.cpu.append(cpu)
        log(f"    round {i + 1}/{rounds}: " + ", ".join(f"{r.command.name} {r.seconds[-1]:.2f}s" for r in rows))
    return rows


# -- correctness (untimed) -----------------------------------------------------------


def run_once(c: Command) -> tuple[list[str], int]:
    """(fingerprints reported, exit status) of one untimed run."""
    from cardscan.findings import FingerprintKey

    proc = subprocess.run(c.shell, shell=True, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if c.cardscan:
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{c.name} exited with {proc.returncode}: {proc.stderr[-500:]!r}")
        assert c.manifest is not None
        fps = []
        with open(c.manifest, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                if rec.get("type") == "finding":
                    fps.append(rec["fingerprint"])
        return fps, proc.returncode
    key = FingerprintKey(generate.BENCH_KEY)
    # The filter's output holds the (generated, fake) numbers: fingerprinted in memory, never stored.
    fps = []
    for line in proc.stdout.splitlines():
        digits = line[line.rfind(b":") + 1:].replace(b" ", b"").replace(b"-", b"").decode("ascii")
        fps.append(key.fingerprint(digits))
    return fps, proc.returncode


def score_log(c: Command, planted: list[dict]) -> str:
    fps, _ = run_once(c)
    want = {p["fingerprint"] for p in planted}
    got = set(fps)
    recall = len(want & got) / len(want) if want else 1.0
    extra = sum(1 for f in fps if f not in want)
    return f"{100 * recall:.1f}% recall, {extra:,} extra"


def score_tree(c: Command, planted: int) -> str:
    fps, _ = run_once(c)
    return f"{len(fps):,} reported ({planted:,} planted)"


# -- report --------------------------------------------------------------------------


def table(title: str, rows: list[Row], amount: float, unit: str) -> str:
    ref = next((r for r in rows if r.command.name == "cardscan-j1"), rows[0])
    base = next((r for r in rows if r.command.name == "rg"), None)
    lines = [title, f"  {'command':<46} {'runs':>4} {'median s':>9} {unit:>10} {'CPU s':>6} "
                    f"{'/ rg':>6} {'paired':>6} {'CPU / rg':>8} {'j1 / this':>9}  correctness"]
    for r in rows:
        rate = amount / r.median
        vs_rg = f"{base.median / r.median:.2f}x" if base else "-"
        paired = f"{paired_ratio(base, r):.2f}x" if base else "-"
        j1 = f"{r.median / ref.median:.2f}x"
        cpu = f"{statistics.median(r.cpu):>6.2f}" if r.command.cpu_counted else f"{'-':>6}"
        cpu_rg = "-"
        if base is not None and r.command.cpu_counted and base.command.cpu_counted:
            cpu_rg = f"{statistics.median(base.cpu) / statistics.median(r.cpu):.2f}x"
        lines.append(f"  {r.command.label:<46} {len(r.seconds):>4} {r.median:>9.3f} {rate:>10,.1f} "
                     f"{cpu} {vs_rg:>6} {paired:>6} {cpu_rg:>8} {j1:>9}  {r.score}")
    lines.append("  '/ rg': this row's rate over the rg (default engine) row's; 'paired': the median over the "
                 "rounds of that ratio within each round (load that comes and goes falls on both terms of a "
                 "round's ratio); 'CPU / rg': the rg row's CPU "
                 "seconds over this row's (what a busy machine's wall time hides); 'j1 / this': cardscan --jobs "
                 "1's rate over this row's; CPU s: user + system of the whole process tree ('-': pool workers are "
                 "not counted).")
    return "\n".join(lines)


def paired_ratio(base: Row, r: Row) -> float:
    """The median over the rounds of ``base``'s time over ``r``'s in the same round."""
    return statistics.median(b / t for b, t in zip(base.seconds, r.seconds))


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "cardscan", "setup.py"], cwd=HERE.parent,
                               capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=float, default=generate.default_size_mb())
    ap.add_argument("--files", type=int, default=20_000, help="small files in the tree (default 20000)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds; the median is reported (default 5)")
    ap.add_argument("--only", nargs="*", choices=("log", "gz", "tree"), default=["log", "gz", "tree"])
    ap.add_argument("--no-score", action="store_true", help="skip the untimed correctness runs")
    ap.add_argument("--profile", action="store_true", help="also profile cardscan scan --jobs 1 of the log")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    ap.add_argument("--data", type=Path, default=generate.DATA_ROOT, help="data root (default benchmarks/data)")
    args = ap.parse_args(argv)
    for tool in ("rg", "hyperfine"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install {'ripgrep' if tool == 'rg' else tool})", file=sys.stderr)
            return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    rg_version = subprocess.run(["rg", "--version"], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    print(f"bench_process  {time.strftime('%Y-%m-%d')}  commit {commit()}  {os.cpu_count()} cores  "
          f"Python {sys.version.split()[0]}  {rg_version}  load {os.getloadavg()[0]:.2f}")
    report: dict = {"commit": commit(), "rounds": args.rounds, "tables": {}}
    with tempfile.TemporaryDirectory(prefix="cardscan-bench-") as t:
        tmp = Path(t)
        log_path = generate.ensure(args.size_mb, root=args.data, files=("app.log",), log=log)["app.log"]
        planted = generate.load_sidecar(log_path)["planted"]
        size_mb = log_path.stat().st_size / MB
        work: list[tuple[str, list[Command], float, str, str]] = []
        if "log" in args.only:
            work.append(("log", log_commands(log_path, tmp), size_mb, "MB/s", f"{log_path.name}: {size_mb:,.0f} MB"))
        if "gz" in args.only:
            gz = ensure_gz(log_path)
            work.append(("gz", gz_commands(gz, tmp), size_mb, "MB/s",
                         f"{gz.name}: {gz.stat().st_size / MB:,.0f} MB compressed, rate of the {size_mb:,.0f} MB "
                         "it holds"))
        if "tree" in args.only:
            import bench_scale

            tree, tree_planted = bench_scale.ensure_tree(args.files, log)
            n, nbytes = tree_bytes(tree)
            work.append(("tree", tree_commands(tree, tmp), float(n), "files/s",
                         f"{tree.name}: {n:,} files, {nbytes / MB:,.1f} MB"))
        for name, commands, amount, unit, title in work:
            target = Path(shlex.split(commands[0].shell)[-1])
            warm(target)
            log(f"{name}: {len(commands)} commands x {args.rounds} rounds")
            load0 = os.getloadavg()[0]
            rows = measure(commands, args.rounds, tmp, log)
            load1 = os.getloadavg()[0]
            if not args.no_score:
                for r in rows:
                    r.score = score_log(r.command, planted) if name != "tree" else score_tree(r.command, tree_planted)
            print()
            print(table(f"{title}  (load average {load0:.2f} before, {load1:.2f} after)", rows, amount, unit))
            for r in rows:
                print(f"    {r.command.name}: {r.command.shell}")
            base_row = next((r for r in rows if r.command.name == "rg"), None)
            report["tables"][name] = {
                "title": title, "unit": unit, "amount": amount, "load": [load0, load1],
                "rows": [{"name": r.command.name, "shell": r.command.shell, "seconds": r.seconds, "cpu": r.cpu,
                          "median": r.median, "rate": amount / r.median, "score": r.score,
                          **({"paired_vs_rg": paired_ratio(base_row, r)} if base_row else {})} for r in rows],
            }
            sys.stdout.flush()
        if args.profile:
            import profile_process

            print()
            print(profile_process.report(log_path))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
