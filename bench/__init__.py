"""pgferry's full-load benchmark: `python -m bench.run --help` (see docs/benchmarks.md)."""
