"""emergent-pipeline: Dagster assets that turn daily stock prices into trading signals.

The layers, each importing only those below it: ``core`` is the domain, plain pandas/numpy (and
scikit-learn for the model), with no Dagster, DuckDB or MLflow; ``sources`` fetch prices and
statements (the bundled panel, files, yfinance); ``storage`` reads and writes DuckDB,
``model_registry`` the MLflow store, ``status`` reads the Dagster instance and the registry through
their public APIs; ``defs`` wires all of it into Dagster assets, checks, jobs, schedules and sensors;
``api`` serves the published snapshot over REST and Python; ``cli`` is the command.
"""
