"""What the Dagster UI shows and records: the launchpad's default config (every strategy parameter,
weight and policy, with its one-definition default and a description), run config applied in a
real run, blank values, the code location's name, runs of `emergent-pipeline run` as runs of that
location's job, and the freshness policy as README states it."""

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import asdict

import dagster as dg
import pandas as pd
import pytest
import yaml
from dagster._config import ConfigTypeKind
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from emergent_pipeline.cli import CODE_LOCATION
from emergent_pipeline.core.strategies.registry import DEFAULT_WEIGHTS
from emergent_pipeline.core.strategies.registry import STRATEGIES
from emergent_pipeline.defs.prices.assets import DAILY_FRESHNESS
from emergent_pipeline.defs.prices.resources import PriceSourceResource
from emergent_pipeline.paths import PROJECT_ROOT, private_stores
from emergent_pipeline.sources.bundled import PRICES_FILE, UNIVERSE_FILE

from emergent_pipeline_tests.conftest import materialization_metadata, materialize, read

DEFAULTS = {name: asdict(strategy.params()) for name, strategy in STRATEGIES.items()}
"""Each strategy's parameters as its dataclass defines them: the one definition of every default."""

ROOT_DEFAULT_YAML = """query($location: String!, $job: String!) {
  runConfigSchemaOrError(selector: {repositoryLocationName: $location, repositoryName: "__repository__", pipelineName: $job}) {
    __typename ... on RunConfigSchema { rootDefaultYaml } } }"""
RUN = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { jobName pipelineSnapshotId
  repositoryOrigin { repositoryLocationName repositoryName } } } }"""
JOB_SNAPSHOT = """query($location: String!, $job: String!) {
  pipelineOrError(params: {repositoryLocationName: $location, repositoryName: "__repository__", pipelineName: $job}) {
    ... on Pipeline { pipelineSnapshotId } } }"""


@contextmanager
def ui_of(instance: dg.DagsterInstance):
    """The UI's own view of ``instance``: workspace.yaml loaded as `dagster dev -w workspace.yaml`
    loads it (a code server process), answering the GraphQL queries the launchpad and the run page send."""
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(PROJECT_ROOT / "workspace.yaml")])) as context:
        def query(text: str, variables: dict) -> dict:
            result = execute_dagster_graphql(context.create_request_context(), text, variables)
            assert not result.errors, result.errors
            return result.data
        yield query


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    home = private_stores(tmp_path_factory.mktemp("ui"))["DAGSTER_HOME"]  # a code server needs an instance on disk
    with dg.DagsterInstance.from_config(home) as instance, ui_of(instance) as query:
        yield query


def launchpad_defaults(ui, job: str) -> dict:
    """What "Scaffold all default config" writes into the launchpad for ``job``."""
    answer = ui(ROOT_DEFAULT_YAML, {"location": CODE_LOCATION, "job": job})["runConfigSchemaOrError"]
    assert answer["__typename"] == "RunConfigSchema", answer
    return yaml.safe_load(answer["rootDefaultYaml"])


def test_the_launchpad_scaffolds_every_strategy_parameter_with_its_dataclass_default(ui):
    ops = launchpad_defaults(ui, "daily_refresh")["ops"]
    assert ops["strategy_signals"]["config"]["params"] == DEFAULTS
    consensus = ops["consensus_signals"]["config"]
    assert consensus["weights"] == DEFAULT_WEIGHTS and consensus["min_supporters"] == 3
    assert ops["shariah_screen"]["config"]["strict_activities"] == "by_standard"


def test_the_launchpad_scaffolds_the_source_and_the_retraining_policy(ui):
    resources = launchpad_defaults(ui, "full_backfill")["resources"]
    source = resources["price_source"]["config"]
    assert source["symbols"] == [] and source["path"] == "" and source["column_map"] == {}
    assert resources["retraining"]["config"] == {"min_new_outcomes": 200, "max_champion_age_days": 30}


def config_field(job: dg.JobDefinition, path: list[str]):
    """The field at ``path`` of the job's run config schema, as the launchpad's editor describes it."""
    snapshot = job.get_job_snapshot()
    schema = snapshot.config_schema_snapshot
    type_snap = schema.get_config_snap(snapshot.mode_def_snaps[0].root_config_key)
    field = None
    for name in path:
        field = type_snap.get_field(name)
        type_snap = schema.get_config_snap(field.type_key)
        if type_snap.kind == ConfigTypeKind.NONEABLE:  # a field with a default is optional
            type_snap = schema.get_config_snap(type_snap.inner_type_key)
    return field


def test_every_launchpad_knob_has_a_description(definitions):
    job = definitions.resolve_job_def("full_backfill")
    params = ["ops", "strategy_signals", "config", "params"]
    paths = [[*params, name, field] for name, fields in DEFAULTS.items() for field in fields]
    paths += [["ops", "consensus_signals", "config", "weights", name] for name in DEFAULT_WEIGHTS]
    paths += [["ops", "shariah_screen", "config", "strict_activities"], ["resources", "retraining", "config", "min_new_outcomes"],
              ["resources", "retraining", "config", "max_champion_age_days"]]
    paths += [["resources", "price_source", "config", name] for name in ("symbols", "path", "column_map")]
    undocumented = [".".join(p) for p in paths if not config_field(job, p).description or "(undocumented)" in config_field(job, p).description]
    assert not undocumented
    assert "20-day return" in config_field(job, [*params, "momentum", "min_return_20d"]).description
    # A parameter its dataclass documents keeps that text.
    assert "stop at the entry is no stop" in config_field(job, [*params, "pivot_cpr", "min_risk"]).description


def rejection(job: dg.JobDefinition, config: dict) -> str:
    with pytest.raises(dg.DagsterInvalidConfigError) as raised:
        dg.validate_run_config(job, config)
    return str(raised.value)


def strategy_config(params) -> dict:
    return {"ops": {"strategy_signals": {"config": {"params": params}}}}


def test_blank_or_misspelt_sections_are_refused_before_the_run(definitions):
    """`params:` typed with nothing after it (None) is refused by the launchpad's validation, as is
    a strategy left blank or a misspelt parameter: nothing runs on a config that would fail."""
    job = definitions.resolve_job_def("daily_refresh")
    assert "root:ops:strategy_signals:config:params must not be None" in rejection(job, strategy_config(None))
    assert "params:momentum must not be None" in rejection(job, strategy_config({"momentum": None}))
    assert 'unexpected config entry "min_retrun_20d"' in rejection(job, strategy_config({"momentum": {"min_retrun_20d": 0.1}}))
    assert 'unexpected config entry "nonsense"' in rejection(job, strategy_config({"nonsense": {}}))
    assert "strict_activities" in rejection(job, {"ops": {"shariah_screen": {"config": {"strict_activities": True}}}})


SYMBOLS = 30


@pytest.fixture(scope="module")
def small_source(tmp_path_factory) -> PriceSourceResource:
    """The first 30 bundled symbols with their sectors, as a user's files."""
    folder = tmp_path_factory.mktemp("launchpad")
    universe = pd.read_csv(UNIVERSE_FILE).sort_values("symbol").head(SYMBOLS)
    universe.to_csv(folder / "universe.csv", index=False)
    prices = pd.read_parquet(PRICES_FILE)
    prices[prices["symbol"].isin(universe["symbol"])].to_parquet(folder / "prices.parquet")
    return PriceSourceResource(kind="file", path=str(folder / "prices.parquet"), universe_path=str(folder / "universe.csv"))


def test_overrides_apply_blank_values_mean_defaults_and_weights_keep_the_others(definitions, small_source, tmp_path):
    """A real run with the launchpad's shapes: an override changes what fires, a parameter left blank
    (``rsi_high:``) runs with its default instead of failing, and one weight leaves the others'."""
    db = tmp_path / "emergent.duckdb"
    config = {"ops": {
        "strategy_signals": {"config": {"params": {"momentum": {"rsi_low": 55.0, "rsi_high": None}}}},
        "consensus_signals": {"config": {"weights": {"momentum": 0.3}, "min_composite": None}},
        "shariah_screen": {"config": {"strict_activities": "always"}},
    }}
    result = materialize(definitions, db, small_source, selection=["price_history", "strategy_signals", "shariah_screen", "consensus_signals"],
                         run_config=config)
    assert result.success
    settings = materialization_metadata(result, "strategy_signals")["settings"].value
    expected = {**DEFAULTS, "momentum": {**DEFAULTS["momentum"], "rsi_low": 55.0}}
    assert settings.keys() == expected.keys() and all(settings[s].keys() == expected[s].keys() for s in expected)
    # The metadata shows floats to 4 decimals (sector_rotation's min_acceleration of 1e-9 reads 0.0).
    assert all(settings[s][k] == pytest.approx(v, abs=5e-5) for s in expected for k, v in expected[s].items())
    rsi = read(db, "SELECT map_extract_value(indicators, 'rsi_14')::DOUBLE AS rsi FROM strategy_signals WHERE strategy = 'momentum'")["rsi"]
    assert len(rsi) > 0 and rsi.min() >= 55.0 and rsi.max() <= DEFAULTS["momentum"]["rsi_high"]
    consensus = materialization_metadata(result, "consensus_signals")["settings"].value
    assert consensus["weights"] == {**DEFAULT_WEIGHTS, "momentum": 0.3} and consensus["min_composite"] == 0.45
    assert materialization_metadata(result, "shariah_screen")["settings"].value["strict_activities"] is True


def test_the_code_location_is_named_emergent_pipeline_everywhere():
    """workspace.yaml (`dagster dev -w`), pyproject's [tool.dg.project] (`dg dev`) and the CLI's runs."""
    from dagster_dg_core.context import DgContext

    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    assert [entry["python_module"]["location_name"] for entry in workspace["load_from"]] == [CODE_LOCATION]
    # What `dg dev` names the location (from pyproject.toml; without the setting, the folder's name).
    assert DgContext.for_project_environment(PROJECT_ROOT, {}).code_location_name == CODE_LOCATION == "emergent_pipeline"


def test_the_instance_settings_are_the_project_dagster_yaml():
    """The layout keeps dagster.yaml in the project folder; make copies it into DAGSTER_HOME."""
    settings = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    assert settings["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert "cp dagster.yaml $@" in (PROJECT_ROOT / "Makefile").read_text()


def test_a_cli_run_is_a_run_of_the_job_the_ui_loads(tmp_path, monkeypatch):
    """`emergent-pipeline run` (what `make run` uses) records a run of the named job, through Dagster's
    public API, with the snapshot the UI loads for the job of the code location emergent_pipeline (the
    run page shows the same job). A run that fails at its first step is enough to show it."""
    stores = private_stores(tmp_path)
    (tmp_path / "no_path.yaml").write_text("resources: {price_source: {config: {kind: file}}}\n")
    command = [sys.executable, "-m", "emergent_pipeline.cli", "run", "daily_refresh", "-c", str(tmp_path / "no_path.yaml")]
    result = subprocess.run(command, env={**os.environ, **stores}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "no path is configured" in result.stderr, result.stderr[-2000:]
    assert not re.search(r" - DEBUG - ", result.stderr)  # readable: Dagster's DEBUG lines are left out

    for name, value in stores.items():  # the UI started with the environment the run had, as `make dev` after `make run`
        monkeypatch.setenv(name, value)  # (the store paths are defaults in the job's config schema, so in its snapshot)
    with dg.DagsterInstance.from_config(stores["DAGSTER_HOME"]) as instance, ui_of(instance) as ui:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
        shown = ui(RUN, {"runId": run.run_id})["runOrError"]
        assert shown["jobName"] == "daily_refresh"
        loaded = ui(JOB_SNAPSHOT, {"location": CODE_LOCATION, "job": "daily_refresh"})["pipelineOrError"]["pipelineSnapshotId"]
        assert shown["pipelineSnapshotId"] == loaded


def test_readme_states_the_freshness_policy():
    """README gives the windows in hours, as the policy defines them (the UI rounds 98 h to "4 days")."""
    hours = {name: int(getattr(DAILY_FRESHNESS, name).to_timedelta().total_seconds() // 3600) for name in ("warn_window", "fail_window")}
    line = next(line for line in (PROJECT_ROOT / "README.md").read_text().splitlines() if line.startswith("| freshness policies"))
    assert f"warn after {hours['warn_window']} h" in line and f"fail after {hours['fail_window']} h" in line


def test_every_sensor_says_what_it_does_in_the_ui(definitions):
    sensors = {s.name: s.description for s in definitions.sensors}
    assert set(sensors) == {"champion_sensor", "retraining_sensor", "run_failure_recorder", "leftovers_sensor"}
    assert all(description and len(description) > 40 for description in sensors.values()), sensors
