"""The `shanhai` command: the Typer app with every command registered (see the *_commands modules)."""

from __future__ import annotations

from shanhai.cli import (  # noqa: F401  (each module registers its commands on the app)
    assessment,
    catalogue_commands,
    message_commands,
    record_commands,
    status_commands,
    user_commands,
)
from shanhai.cli.app import app
from shanhai.cli.channels import channels_app
from shanhai.cli.holidays import holidays_app

app.add_typer(channels_app, name="channels")
app.add_typer(holidays_app, name="holidays")


def main() -> None:
    import warnings

    # the working calendar's fallback is already logged once, in full; don't print it a second time
    warnings.filterwarnings("ignore", message="工作日历", category=RuntimeWarning)
    app()


if __name__ == "__main__":
    main()
