"""The code location: everything under ``defs/`` is autoloaded.

Runs use the in-process executor: DuckDB accepts one writer process at a time, and every asset
here writes the same file, so steps run one after the other in the run's own process.
"""

from pathlib import Path

import dagster as dg

from emergent_pipeline.defs.loggers import LOGGERS


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor, loggers=LOGGERS),
    )
