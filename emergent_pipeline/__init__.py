"""emergent-pipeline: Dagster assets that turn daily stock prices into trading signals.

The domain code (``core``, ``sources``, ``storage``) is plain pandas/numpy with no Dagster import;
``defs`` wires it to DuckDB and Dagster resources.
"""
