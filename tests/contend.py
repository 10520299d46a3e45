"""Run a command on a deliberately contended CPU: `python -m tests.contend [--workers N] [--nice N] -- cmd ...`.

`make test-contended` runs the whole suite this way, to show it does not depend on the machine being fast or
idle (a slow CI box, a laptop on battery). Beside the command run `--workers` busy-loop processes; they stop
when the command ends, however it ends: the normal way, Ctrl-C, SIGTERM (passed on as Ctrl-C), or — since
each one watches its parent — even when this process is killed outright. `--max-seconds` bounds them regardless.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import time

CHECK_EVERY = 200_000  # loop turns between two looks at the parent (a few ms of CPU)


def spin(parent: int, until: float) -> None:
    """Burn one CPU until the parent process is gone or `until` (monotonic) has passed."""
    turns = 0
    while True:
        turns += 1
        if turns % CHECK_EVERY == 0 and (os.getppid() != parent or time.monotonic() > until):
            return


def _stop(processes: list[multiprocessing.Process]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def run(command: list[str], workers: int, nice: int, max_seconds: float) -> int:
    """Run `command` beside `workers` busy loops; its exit status (128 + n when killed by signal n)."""
    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    until = time.monotonic() + max_seconds
    spinners = [context.Process(target=spin, args=(os.getpid(), until), daemon=True) for _ in range(workers)]
    for spinner in spinners:
        spinner.start()
    print(f"[contend] {workers} busy processes beside the command: {' '.join(str(s.pid) for s in spinners)}",
          file=sys.stderr, flush=True)
    try:
        child = subprocess.Popen(["nice", "-n", str(nice), *command] if nice else command)
        # Ctrl-C reaches the command too (one process group) and it cleans up by itself (pytest stops the
        # e2e stack): wait for it. A SIGTERM is passed on as a Ctrl-C, for the same clean-up.
        signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGINT))
        while True:
            try:
                status = child.wait()
                break
            except KeyboardInterrupt:
                continue
    finally:
        _stop(spinners)
    return status if status >= 0 else 128 - status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.contend", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="busy-loop processes (default 2)")
    parser.add_argument("--nice", type=int, default=0, help="run the command at this niceness (default 0)")
    parser.add_argument("--max-seconds", type=float, default=4 * 3600, help="stop the busy loops after this")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return run(command, args.workers, args.nice, args.max_seconds)


if __name__ == "__main__":
    sys.exit(main())
