"""``python -m emergent_pipeline.api [--host H] [--port P] ...``: the REST API, as `emergent-pipeline serve` starts it."""

import sys

from emergent_pipeline.cli import main

raise SystemExit(main(["serve", *sys.argv[1:]]))
