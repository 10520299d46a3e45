"""Login cost: the argon2id parameters in force and the time of one password verification."""

from __future__ import annotations

import statistics
import time


def run() -> str:
    from chalicelib.domain import passwords

    stored = passwords.hash_password("a reasonably long passphrase")
    passwords.verify_password(stored, "warm-up")
    samples = []
    for _ in range(15):
        started = time.perf_counter()
        passwords.verify_password(stored, "a reasonably long passphrase")
        samples.append((time.perf_counter() - started) * 1000)
    params = stored.split("$")[3]
    median = statistics.median(samples)
    return "\n".join([
        "## Login cost (argon2id)",
        "",
        f"Parameters: `{params}` (m = memory KiB, t = iterations, p = lanes; OWASP minimum m=19456, t=2).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| verifications timed | {len(samples)} |",
        f"| median per verification | {median:.1f} ms |",
        f"| fastest / slowest | {min(samples):.1f} / {max(samples):.1f} ms |",
        f"| sign-ins per core per second (password step) | {1000 / median:.0f} |",
        "",
        "Unknown accounts are verified against a dummy hash with the same parameters, so they cost the same.",
    ])


if __name__ == "__main__":
    print(run())
