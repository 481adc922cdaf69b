"""A recorded-transcript stand-in for the Lean REPL process (a test helper, not a verifier).

It is started exactly where the real REPL would be (`lake env <repl>`), reads requests in the REPL's
framing (a JSON object, then a blank line) and answers each with the reply the real REPL gave to the
same command in the REPL's own test suite (`X.expected.out`, Lean v4.33.0-rc2). A request that is not
the recorded command, in order, is a test failure: the stand-in exits with status 3 and says why.

    lean_replay_server.py X.in X.expected.out [--once MARKER] [--hang-at N | --crash-at N]

`--hang-at N` / `--crash-at N` make the N-th request (1-based) hang or kill the process, on the first
launch only (the first launch creates MARKER), so the driver's restart and state replay can be tested.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path


def blocks(text: str) -> list[str]:
    return [block for block in re.split(r"\n[ \t]*\n", text) if block.strip()]


def read_transcript(commands: Path, replies: Path | None) -> tuple[list[dict], list[str]]:
    # The REPL's own inputs hold raw line breaks inside strings, which its JSON reader accepts.
    recorded = [json.loads(block, strict=False) for block in blocks(commands.read_text(encoding="utf-8"))]
    answers = blocks(replies.read_text(encoding="utf-8")) if replies else []
    return recorded, answers


def read_request(stream) -> str | None:
    lines = []
    while True:
        line = stream.readline()
        if not line:
            return "".join(lines) if "".join(lines).strip() else None
        if not line.strip():
            if lines:
                return "".join(lines)
            continue
        lines.append(line)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("commands", type=Path)
    parser.add_argument("replies", type=Path)
    parser.add_argument("--once", type=Path)
    parser.add_argument("--hang-at", type=int)
    parser.add_argument("--crash-at", type=int)
    arguments = parser.parse_args()
    recorded, answers = read_transcript(arguments.commands, arguments.replies)
    faulty = arguments.once is None or not arguments.once.exists()
    if arguments.once is not None:
        arguments.once.touch()
    for number, (command, answer) in enumerate(zip(recorded, answers), start=1):
        request = read_request(sys.stdin)
        if request is None:
            return 0
        if faulty and arguments.crash_at == number:
            return 1
        if faulty and arguments.hang_at == number:
            time.sleep(3600)
        received = json.loads(request)
        if received != command:
            print(f"replay mismatch at request {number}: expected {command!r}, received {received!r}", file=sys.stderr)
            return 3
        sys.stdout.write(answer.rstrip("\n") + "\n\n")
        sys.stdout.flush()
    extra = read_request(sys.stdin)
    if extra is not None:
        print(f"replay: request beyond the transcript: {extra!r}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
