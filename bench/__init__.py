"""pgferry's full-load benchmark: `python -m bench.run --help` (see README.md, "Benchmark")."""
