"""Luhn filter for a pipe: the lines of stdin whose card number passes Luhn.

The baseline half of ``rg -o <card regex> | python3 -S luhn_filter.py``
(bench_process.py): what a competent user writes next to ripgrep. A line is
``digits`` or ``path:digits`` (``rg --with-filename``); spaces and dashes in
the number are ignored. Stdlib only, table-driven Luhn (two
``bytes.translate`` tables) in a list comprehension per 1 MiB block: about
1 µs per line, so on the benchmark log it keeps up with ripgrep on the other
core.
"""
import sys

VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))
DOUBLED = bytes.maketrans(b"0123456789", bytes((2 * d) // 10 + (2 * d) % 10 for d in range(10)))


def passing(lines: list[bytes]) -> list[bytes]:
    # The test is inlined: a function call per line costs a third more.
    if lines and b":" in lines[0]:  # rg --with-filename: path:digits
        return [line for line in lines
                if 12 <= len(d := line[line.rfind(b":") + 1:].replace(b" ", b"").replace(b"-", b"")) <= 19
                and (sum(d[-1::-2].translate(VALUE)) + sum(d[-2::-2].translate(DOUBLED))) % 10 == 0]
    return [line for line in lines
            if 12 <= len(d := line.replace(b" ", b"").replace(b"-", b"")) <= 19
            and (sum(d[-1::-2].translate(VALUE)) + sum(d[-2::-2].translate(DOUBLED))) % 10 == 0]


def main() -> None:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    rest = b""
    while True:
        block = inp.read(1 << 20)
        if not block:
            break
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        keep = passing(lines)
        if keep:
            out.write(b"\n".join(keep) + b"\n")
    keep = passing([rest] if rest else [])
    if keep:
        out.write(keep[0] + b"\n")


if __name__ == "__main__":
    main()
