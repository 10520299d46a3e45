"""The route manifest (`manifest.json`): what `app.py` mounts without importing any area module.

Generated and checked by `python -m chalicelib.manifest` (see `generate.py`); the areas are listed in `areas.py`.
This module is on every cold path: it only reads the file.
"""

import json
import os

PATH = os.path.join(os.path.dirname(__file__), "manifest.json")
_loaded = None


def load():
    """The committed manifest, read once per process: `routes`, `jobs` (kind → module) and `schedules`."""
    global _loaded
    if _loaded is None:
        with open(PATH, encoding="utf-8") as handle:
            _loaded = json.load(handle)
    return _loaded
