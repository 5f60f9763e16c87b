"""Benchmarks of Shanhai: run with `make bench` or `.venv/bin/python -m benchmarks.run`."""
