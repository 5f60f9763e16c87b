"""Alembic migrations of the application database."""

# The newest revision: lets a process skip loading Alembic when the database is already there.
# tests/test_migrations.py checks that it matches the script directory's head.
HEAD = "0007_import_completion"
