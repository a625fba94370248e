#!/usr/bin/env python
"""Summarize a py-spy `--format raw` profile (collapsed stacks): where a request's time goes.

    python bench/profile_summary.py bench/results/latest/profile-dashboard.txt

Prints the functions with the largest inclusive share (in a stack at all) and self share (at
the top of the stack) of the samples; bench/run.py --profile stores the same in results.json.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/bench/", "/flightsite/", "/passengers/", "/flights/"):
        if marker in path:
            path = (
                path.split(marker, 1)[1]
                if marker == "site-packages/"
                else marker.strip("/") + "/" + path.split(marker, 1)[1]
            )
            break
    return f"{m.group('func')} ({path})"


def summarize(path: Path, top: int = 15) -> dict:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += n
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    if not total:
        return {"samples": 0}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top * 3)]

    # Frames in nearly every sample (the server's loop, its accept) say nothing.
    inclusive_top = [(n, p) for n, p in share(inclusive) if p < 90][:top]
    return {"samples": total, "inclusive_pct": inclusive_top, "self_pct": share(own)[:top]}


def main(argv: list[str]) -> int:
    for arg in argv:
        result = summarize(Path(arg), top=25)
        print(f"{arg}: {result['samples']} samples\n  inclusive %:")
        for name, pct in result.get("inclusive_pct", []):
            print(f"    {pct:5.1f}  {name}")
        print("  self %:")
        for name, pct in result.get("self_pct", []):
            print(f"    {pct:5.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
