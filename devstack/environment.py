"""The process environment of the local stack and the tests (see `chalicelib.ops.stage`)."""

from __future__ import annotations

from chalicelib.ops.stage import ROOT, apply, stage_variables

__all__ = ["ROOT", "apply", "stage_variables"]
