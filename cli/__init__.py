"""The `shanhai` command (``shanhai.cli``).

This folder is the package ``shanhai.cli`` (shanhai/cli links here). Imported under another name, from the
repository root as ``cli``, every module would load a second time as a different object (two ``Schedule``
classes that are not the same): refused.
"""

if __name__ != "shanhai.cli":
    raise ImportError(f"import shanhai.cli, not {__name__}: this folder is the package shanhai.cli")
