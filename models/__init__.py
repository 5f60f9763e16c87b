"""The domain: catalogue, working days, statuses, ladders, records and the read queries (``shanhai.models``).

This folder is the package ``shanhai.models`` (shanhai/models links here). Imported under another name, from the
repository root as ``models``, every module would load a second time as a different object (two ``Schedule``
classes that are not the same): refused.
"""

if __name__ != "shanhai.models":
    raise ImportError(f"import shanhai.models, not {__name__}: this folder is the package shanhai.models")
