"""Thin Prefect flows, the entrypoints prefect.yaml names (``shanhai.flows``).

This folder is the package ``shanhai.flows`` (shanhai/flows links here). Imported under another name, from the
repository root as ``flows``, every module would load a second time as a different object (two ``Schedule``
classes that are not the same): refused.
"""

if __name__ != "shanhai.flows":
    raise ImportError(f"import shanhai.flows, not {__name__}: this folder is the package shanhai.flows")
