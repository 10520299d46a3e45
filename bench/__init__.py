"""Benchmarks: `make bench` (`python -m bench [name ...]`) runs them and rewrites docs/benchmarks.md.

A benchmark is a module `bench/<name>.py` with a top-level `run() -> str` returning markdown. The harness
(`bench/__main__.py`) finds them without importing them, runs each in its own subprocess (a benchmark may set
the stage environment, start moto or fill `sys.modules` without disturbing the others) and splices the
sections into the document. Modules whose name starts with `_` are helpers, never benchmarks.
"""
