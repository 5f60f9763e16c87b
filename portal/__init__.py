"""The web portal (``shanhai.portal``).

This folder is the package ``shanhai.portal`` (shanhai/portal links here). Imported under another name, from the
repository root as ``portal``, every module would load a second time as a different object (two ``Schedule``
classes that are not the same): refused.
"""

if __name__ != "shanhai.portal":
    raise ImportError(f"import shanhai.portal, not {__name__}: this folder is the package shanhai.portal")
