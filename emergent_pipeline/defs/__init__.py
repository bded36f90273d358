"""Dagster wiring: assets, checks and resources, autoloaded by `load_from_defs_folder`."""
