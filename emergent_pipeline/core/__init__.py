"""Pure domain code: vectorised pandas/numpy, no Dagster, no I/O."""
