"""Who is told what and when: planning, the outbox, delivery, channels and transports (``shanhai.notifications``).

This folder is the package ``shanhai.notifications`` (shanhai/notifications links here). Imported under another name, from the
repository root as ``notifications``, every module would load a second time as a different object (two ``Schedule``
classes that are not the same): refused.
"""

if __name__ != "shanhai.notifications":
    raise ImportError(f"import shanhai.notifications, not {__name__}: this folder is the package shanhai.notifications")
