"""Shanhai (山海): deadline tracking for 温政发〔2018〕26号."""

from pathlib import Path

# The source tree root: the catalogue (calendar/) and prefect.yaml live beside the packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
