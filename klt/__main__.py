"""``python -m klt`` is the ``klt`` command."""

from klt.cli import main

main()
