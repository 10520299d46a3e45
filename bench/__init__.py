"""Benchmarks: `make bench` (`python -m bench [name ...]`) runs them in quick mode into bench/results/benchmarks.md;
`make bench-docs` (`python -m bench --docs`) runs them in full mode into docs/benchmarks.md, the documented figures.

A benchmark is a module `bench/<name>.py` with a top-level `run() -> str` returning markdown. The harness
(`bench/__main__.py`) finds them without importing them, runs each in its own subprocess (a benchmark may set
the stage environment, start moto or fill `sys.modules` without disturbing the others) and splices the
sections into the document. Modules whose name starts with `_` are helpers, never benchmarks.
"""
