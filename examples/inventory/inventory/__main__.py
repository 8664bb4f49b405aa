"""Run the command line: python -m inventory."""

from inventory.cli import main

raise SystemExit(main())
