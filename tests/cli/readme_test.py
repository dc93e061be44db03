"""The README's command sequence, run as written in a fresh directory and home.

Before `cardscan keygen`, the documented scan ran with a random key and the
documented remediation then refused the manifest: the sequence could not work
end to end (issue 12, Keys).
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from cardscan.testing import assert_no_pan, distinct_pans

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Command line"):]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block, "the README's Command line section has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_sequence_runs_end_to_end(tmp_path: Path) -> None:
    commands = readme_commands()
    assert [c.split()[1] for c in commands] == ["keygen", "scan", "report", "remediate", "remediate"]
    visa, mastercard = distinct_pans(2, seed=12)  # a Visa (remediated) and a Mastercard (not selected)
    assert visa.startswith("4") and mastercard.startswith("5")
    work, home, bin_dir = tmp_path / "work", tmp_path / "home", tmp_path / "bin"
    for d in (work / "share", home, bin_dir):
        d.mkdir(parents=True)
    (work / "share" / "payments.log").write_text(f"2026-11-28 INFO charged card={visa} amount=12.00\n")
    (work / "share" / "export.csv").write_text(f"id,card_number\n1,{mastercard}\n")
    # `cardscan` on PATH is this checkout's, whatever is installed.
    shim = bin_dir / "cardscan"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cardscan "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSCAN_") and k != "XDG_CONFIG_HOME"}
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT))

    statuses, outputs = [], []
    for command in commands:
        proc = subprocess.run(["/bin/sh", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)
        statuses.append(proc.returncode)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode in (0, 1), f"{command!r} failed ({proc.returncode}): {proc.stderr[-2000:]}"
    # keygen 0; the scan finds cards (1); the report, the dry run and the apply succeed.
    assert statuses == [0, 1, 0, 0, 0], list(zip(commands, statuses))

    key = home / ".config" / "cardscan" / "key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (work / "sweep.html").is_file() and (work / "sweep.jsonl").is_file()
    assert_no_pan((work / "share" / "payments.log").read_bytes(), [visa], "the remediated log")
    kept = mastercard in (work / "share" / "export.csv").read_text()  # not selected by --brand visa
    assert kept, "remediation changed a card the README's --brand visa did not select"
    for command, out in zip(commands, outputs):
        assert_no_pan(out, [visa, mastercard], command)
    shown = key.read_text().strip() in "".join(outputs)
    assert not shown, "the key was printed"
