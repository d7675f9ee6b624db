"""Imagegate's benchmark harness: `python -m benchmarks` (see benchmarks/README.md).

Every figure is reported beside a bare Starlette baseline measured in the same run, on the
same machine, with the same server settings and the same load generator, so the numbers
compare code paths rather than machines.
"""
