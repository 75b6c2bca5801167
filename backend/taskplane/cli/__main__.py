"""`python -m taskplane.cli ...` (how `taskplane dev` starts its children)."""

from taskplane.cli.app import main

main()
