"""``python -m certify``: the same command as ``certify``."""

from cli import main

main()
