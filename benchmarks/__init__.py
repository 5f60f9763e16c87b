"""Benchmarks of Shanhai (SPEC §8): run with `make bench` or `.venv/bin/python -m benchmarks.run`."""
