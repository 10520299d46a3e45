"""Keep the emulator's data across restarts of `make run`: saved on stop, restored on start.

The moto server has no persistence of its own. Its state is plain Python objects (one backend object per
service, account and region), so the stack pickles those of the services the app uses. That keeps
everything the data depends on together: table items, S3 objects, queue messages, topics, secrets-manager
secrets (the token keyring) and KMS keys with their key material (TOTP secrets are sealed with it), which
could not be exported through the AWS API. Two kinds of object do not pickle as they are and are rebuilt on
load: thread locks (new, unlocked ones) and `cryptography` private keys (round-tripped through PEM).

A snapshot is tied to the moto version that wrote it; one that cannot be read (another moto, a damaged
file) is moved aside with a message, and the stack starts empty instead of failing.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import threading
from pathlib import Path
from typing import Any

SERVICES = ("dynamodb", "s3", "sqs", "sns", "secretsmanager", "kms")
SNAPSHOT = "emulator.pickle"
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _new_condition() -> threading.Condition:
    return threading.Condition()


def _private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, None)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return threading.RLock if isinstance(obj, _LOCK_TYPES[1]) else threading.Lock, ()
        if isinstance(obj, threading.Condition):
            return _new_condition, ()
        if type(obj).__module__.startswith("cryptography") and hasattr(obj, "private_bytes"):
            from cryptography.hazmat.primitives import serialization

            pem = obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            return _private_key, (pem,)
        return NotImplemented


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


def _backends() -> dict[tuple[str, str, str], Any]:
    from moto.backends import get_backend

    found = {}
    for service in SERVICES:
        for account, regions in get_backend(service).items():  # type: ignore[call-overload]
            for region in list(regions.keys()):
                found[(service, account, region)] = dict.__getitem__(regions, region)
    return found


def save(folder: Path) -> int:
    """Write the emulator's state to `folder` (atomically); return the snapshot's size in bytes.

    Call with no request in flight: the API and the event stand-ins stopped first.
    """
    from devstack.isolation import LOCK

    buffer = io.BytesIO()
    with LOCK:  # no DynamoDB operation half-applied while its objects are copied
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump({"moto": _moto_version(), "backends": _backends()})
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (SNAPSHOT + ".partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, folder / SNAPSHOT)
    return len(buffer.getvalue())


def restore(folder: Path) -> str | None:
    """Load a saved state into the emulator (before it serves anything); return a message for the console."""
    path = folder / SNAPSHOT
    if not path.exists():
        return None
    try:
        # The snapshot is this machine's own file, written by `save` under the git-ignored data folder.
        state = pickle.loads(path.read_bytes())  # noqa: S301
        if state.get("moto") != _moto_version():
            raise ValueError(f"saved by moto {state.get('moto')}, this is moto {_moto_version()}")
        _install(state["backends"])
    except Exception as error:  # any unreadable snapshot means: start empty, keep the file
        aside = path.with_suffix(".unreadable")
        os.replace(path, aside)
        return f"Saved data could not be restored ({type(error).__name__}: {error}); starting empty. " \
               f"The old file is kept as {aside}."
    return f"Restored saved data from {path} (start with --fresh to begin empty)."


def _install(backends: dict[tuple[str, str, str], Any]) -> None:
    from moto.backends import get_backend

    for (service, account, region), backend in backends.items():
        regions = get_backend(service)[account]  # type: ignore[call-overload]
        dict.__setitem__(regions, region, backend)


def wipe(folder: Path) -> None:
    """Forget the saved state (`--fresh`)."""
    for name in (SNAPSHOT, SNAPSHOT + ".partial"):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
