"""Shanhai (山海): deadline tracking for 温政发〔2018〕26号.

Where things are, in a checkout and in an installed wheel alike: the package carries the document's
catalogue (``shanhai/calendar``) and ``prefect.yaml``. In a checkout (the repository's pyproject.toml and
calendar/ beside the package) the defaults are the repository's: its ``calendar/``, its ``prefect.yaml``,
``var/`` for data, and relative paths are read against it. Installed anywhere else, the catalogue and
prefect.yaml are the package's copies and data lives in the user's data folder (platformdirs).
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the repository, in a checkout
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "calendar").is_dir()


def base_dir() -> Path:
    """What relative paths are read against: the repository in a checkout, else the user's data folder."""
    return REPO_ROOT if IN_CHECKOUT else data_dir()


def data_dir() -> Path:
    """The default SHANHAI_HOME: ``var/`` in a checkout, else the user's data folder for shanhai."""
    if IN_CHECKOUT:
        return REPO_ROOT / "var"
    from platformdirs import user_data_path

    return user_data_path("shanhai", appauthor=False)


def default_catalogue_dir() -> Path:
    return REPO_ROOT / "calendar" if IN_CHECKOUT else PACKAGE_DIR / "calendar"


def prefect_yaml_path() -> Path:
    """The prefect.yaml the stack deploys: the repository's, else the package's copy."""
    return REPO_ROOT / "prefect.yaml" if IN_CHECKOUT else PACKAGE_DIR / "prefect.yaml"


def work_dir() -> Path | None:
    """Where the stack's processes run: the repository in a checkout (prefect.yaml's folder); else the
    current folder (None)."""
    return REPO_ROOT if IN_CHECKOUT else None
