"""Checks on the consensus: a pipeline that stops producing signals should say so, not go quiet."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from emergent_pipeline.defs.metadata import table_preview
from emergent_pipeline.defs.signals.assets import consensus_signals

RECENT_DAYS = 30
"""Calendar days before the newest price day in which at least one consensus signal is expected:
on the bundled panel a month without one never happens (the quietest month has dozens), so an empty
month means the inputs or the settings broke, not that the market was quiet."""


@dg.asset_check(asset=consensus_signals, description=f"At least one consensus signal in the last {RECENT_DAYS} days of data.")
def consensus_signals_not_empty_lately(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        newest = conn.execute("SELECT max(date) FROM price_history").fetchall()[0][0]
        recent = conn.execute(
            f"SELECT date, count(*) AS signals FROM consensus_signals WHERE date > ?::DATE - INTERVAL {RECENT_DAYS} DAY GROUP BY 1 ORDER BY 1",
            [newest]).df()
    return dg.AssetCheckResult(
        passed=bool(len(recent)), severity=dg.AssetCheckSeverity.WARN,
        description=(f"{int(recent['signals'].sum())} consensus signals on {len(recent)} days since {RECENT_DAYS} days before {newest}"
                     if len(recent) else f"no consensus signal in the {RECENT_DAYS} days up to {newest}: check the prices and the settings"),
        metadata={"newest_price_day": str(newest), "signals": int(recent["signals"].sum()) if len(recent) else 0,
                  "per_day": table_preview(recent, rows=RECENT_DAYS)},
    )
