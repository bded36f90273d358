"""`emergent-pipeline run` as a user types it: README's own file-source config, run from a YAML file in
a separate process, recorded in a Dagster instance; an invalid config runs nothing and changes nothing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from emergent_pipeline.paths import PROJECT_ROOT, private_stores
from emergent_pipeline.core.corporate_actions import parse_ratio
from emergent_pipeline.sources.bundled import ANNUAL_FILE, PRICES_FILE

from emergent_pipeline_tests.conftest import Server, app_on, assert_tables_unchanged, read, stored_tables
from emergent_pipeline_tests.bundled_inputs import STATEMENT_MAP

NSE_LABELS = Path(__file__).parent / "fixtures" / "nse" / "nse_symbol_classification_subset.csv"

NSE = {"RELIANCE": "XOM", "TCS": "AAPL", "INFY": "MSFT", "WIPRO": "ORCL", "ITC": "PM", "HDFCBANK": "JPM", "M&M": "F", "BAJAJ-AUTO": "HOG"}
"""The synthetic NSE-like panel: each NSE symbol takes a real bundled symbol's bars (× 50, in rupees)."""
BONUSES = {"RELIANCE": ("2017-09-07", "2:1", True), "WIPRO": ("2017-06-13", "4:3", True), "INFY": ("2015-09-15", "2:1", False)}
"""Bonus issues in the raw file: (ex-date, ratio as an exchange writes it, listed in the corporate-actions file):
a 1:1 bonus and a 1:3 bonus listed, and a 1:1 bonus the rule must find on its own."""


def readme_file_source_config() -> dict:
    """The README's example run config for the `file` source, as a user would copy it."""
    blocks = re.findall(r"```yaml\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), flags=re.S)
    configs = [yaml.safe_load(b) for b in blocks if "kind: file" in b]
    assert len(configs) == 1, "README should show exactly one file-source example"
    return configs[0]


def original_bars() -> pd.DataFrame:
    """The NSE-like panel on one share basis (after every bonus), before any exchange file splits it."""
    prices = pd.read_parquet(PRICES_FILE)
    prices = prices[prices["symbol"].isin(NSE.values())]
    prices["symbol"] = prices["symbol"].map({us: nse for nse, us in NSE.items()})
    prices[["open", "high", "low", "close"]] *= 50
    prices["volume"] = prices["volume"].astype("float64")
    return prices.sort_values(["symbol", "date"]).reset_index(drop=True)


def as_the_exchange_gives_them(bars: pd.DataFrame) -> pd.DataFrame:
    """The bars as an unadjusted exchange file gives them: before each bonus, prices × its ratio and
    volumes ÷ it (the shares of then)."""
    raw = bars.copy()
    for symbol, (day, ratio, _) in BONUSES.items():
        before = (raw["symbol"] == symbol) & (raw["date"] < day)
        raw.loc[before, ["open", "high", "low", "close"]] *= parse_ratio(ratio)
        raw.loc[before, "volume"] /= parse_ratio(ratio)
    return raw


def files_named_as_in_readme(config: dict, folder: Path) -> dict:
    """A synthetic NSE-like panel written under the column names README's config maps, at paths in
    ``folder``: prices with bonus issues left unadjusted, NSE's own industry labels, statements, and
    the corporate-actions file listing two of the three bonuses."""
    source = config["resources"]["price_source"]["config"]
    raw = as_the_exchange_gives_them(original_bars()).rename(columns={v: k for k, v in source["column_map"].items()})
    raw.to_csv(folder / "prices.csv", index=False)
    labels = pd.read_csv(NSE_LABELS).set_index("symbol").reindex(list(NSE))
    universe = pd.DataFrame({"symbol": list(NSE), "name": labels["company_name"].to_numpy(), "sector": labels["sector"].to_numpy(),
                             "sub_industry": labels["basic_industry"].to_numpy()})
    universe.rename(columns={v: k for k, v in source["universe_column_map"].items()}).to_csv(folder / "universe.csv", index=False)
    statements = pd.read_csv(ANNUAL_FILE, index_col=0).rename(columns=STATEMENT_MAP)
    statements = statements[statements["symbol"].isin(NSE.values())].assign(symbol=lambda s: s["symbol"].map({us: nse for nse, us in NSE.items()}))
    readme_names = {v: k for k, v in source["fundamentals_column_map"].items()}
    statements[[c for c in statements if c in readme_names]].rename(columns=readme_names).to_csv(folder / "statements.csv", index=False)
    pd.DataFrame([{"symbol": symbol, "ex_date": day, "ratio": ratio} for symbol, (day, ratio, listed) in BONUSES.items() if listed]
                 ).to_csv(folder / "corporate_actions.csv", index=False)
    source.update(path=str(folder / "prices.csv"), universe_path=str(folder / "universe.csv"),
                  fundamentals_path=str(folder / "statements.csv"), corporate_actions_path=str(folder / "corporate_actions.csv"))
    source.pop("benchmark_path")  # optional: without it the equal-weight index of the file stands in
    return config


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **private_stores(folder)}
    return subprocess.run([sys.executable, "-m", "emergent_pipeline.cli", *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("cli")
    config = files_named_as_in_readme(readme_file_source_config(), folder)
    (folder / "nse.yaml").write_text(yaml.safe_dump(config))
    return folder, cli(folder, "run", "daily_refresh", "--config", str(folder / "nse.yaml"))


def test_readmes_nse_example_runs_the_daily_refresh_from_the_command_line(ran):
    """README's file-source example on a synthetic NSE-like panel: the run succeeds, every bonus issue
    is adjusted (two listed in the corporate-actions file, one found by the rule), NSE's labels and
    tickers (M&M, BAJAJ-AUTO) are kept, and the API serves them."""
    folder, result = ran
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"run \S+ of daily_refresh succeeded: \d+ assets materialized", result.stdout)
    stored = read(folder / "emergent.duckdb", "SELECT * FROM price_history ORDER BY symbol, date").reset_index(drop=True)
    assert stored["symbol"].unique().tolist() == sorted(NSE)
    original = original_bars()  # after the last bonus: one basis
    assert stored["close"].to_numpy() == pytest.approx(original["close"].to_numpy())
    assert stored["volume"].to_numpy() == pytest.approx(original["volume"].to_numpy())
    statements = read(folder / "emergent.duckdb", "SELECT DISTINCT symbol FROM fundamentals ORDER BY 1")["symbol"].tolist()
    assert statements == sorted(pd.read_csv(folder / "statements.csv")["Symbol"].unique()) and len(statements) >= 5
    universe = read(folder / "emergent.duckdb", "SELECT symbol, sector, sub_industry FROM universe").set_index("symbol")
    assert universe.loc["HDFCBANK", "sub_industry"] == "Private Sector Bank" and universe.loc["BAJAJ-AUTO", "sector"] == "Automobile and Auto Components"
    banks = read(folder / "emergent.duckdb", "SELECT DISTINCT status FROM shariah_screen WHERE symbol = 'HDFCBANK'")["status"].tolist()
    assert banks == ["NON_COMPLIANT"]  # a bank, by NSE's own label
    with Server(app_on(folder)) as client:
        answer = client.post("/signals/ml-enhanced", json={"symbols": ["M&M", "BAJAJ-AUTO"], "max_symbols": 500, "as_of": "2017-06-30"})
    assert answer.status_code == 200 and answer.json()["unknown_symbols"] == []
    # The run is recorded in the instance, where `status` (and the Dagster UI) find it.
    status = cli(folder, "status")
    assert '"job": "daily_refresh"' in status.stdout and '"status": "SUCCESS"' in status.stdout


@pytest.mark.parametrize("mistake, named", [
    ({"colum_map": {"Ticker": "symbol"}}, "colum_map"),
    ({"kind": "excel"}, "excel"),
])
def test_an_invalid_config_runs_nothing_and_changes_nothing(ran, mistake, named):
    folder, _ = ran
    config = yaml.safe_load((folder / "nse.yaml").read_text())
    config["resources"]["price_source"]["config"].update(mistake)
    (folder / "bad.yaml").write_text(yaml.safe_dump(config))
    before = stored_tables(folder / "emergent.duckdb")
    result = cli(folder, "run", "daily_refresh", "-c", str(folder / "bad.yaml"))
    assert result.returncode == 2
    assert "invalid config, nothing ran" in result.stderr and named in result.stderr
    assert "Traceback" not in result.stderr
    assert_tables_unchanged(before, folder / "emergent.duckdb")


def test_an_unknown_job_lists_the_jobs(ran):
    folder, _ = ran
    result = cli(folder, "run", "daily_refrsh")
    assert result.returncode == 2 and "daily_refresh" in result.stderr and "train_signal_model" in result.stderr
