"""What to say when the C core is missing because Python imported a clone's source tree.

From a clone's root, ``python -m danube_metrics`` imports the package from the current
directory, ahead of the installed one; the tree has the compiled ``_native`` module only after
an editable install (``pip install -e .``) has built it in place.
"""

from __future__ import annotations

import os
from typing import Optional

_NATIVE = "danube_metrics._native"


def source_tree_root() -> Optional[str]:
    """The clone this package was imported from, or None for an installed package (a wheel
    has no pyproject.toml or csrc/ beside the package)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    markers = ("pyproject.toml", os.path.join("csrc", "build.py"))
    if all(os.path.isfile(os.path.join(root, m)) for m in markers):
        return root
    return None


def missing_extension_hint(exc: ImportError) -> Optional[str]:
    """The message for ``exc`` when it is the source tree's missing C core, else None."""
    if exc.name != _NATIVE:
        return None
    root = source_tree_root()
    if root is None:
        return None
    return (
        f"danube_metrics was imported from the source tree in {root}, where its C core "
        f"({_NATIVE}) is not built: from a clone's root, the tree comes before the installed "
        f"package on sys.path. Run `pip install -e .` in {root} to build it in place, or run "
        "from another directory to use the installed package."
    )
