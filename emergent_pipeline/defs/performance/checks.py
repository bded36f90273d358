"""Outcomes consistent with the prices they claim to come from, recomputed here from price_history."""

import dagster as dg
import pandas as pd
from pydantic import Field
from dagster_duckdb import DuckDBResource

from emergent_pipeline.core.monitoring import MAX_CALIBRATION_GAP, RecordHealth, forward_record_health
from emergent_pipeline.core.score_record import known_on
from emergent_pipeline.defs.incremental import checked_since
from emergent_pipeline.defs.metadata import table_preview, tidy
from emergent_pipeline.defs.performance.assets import signal_outcomes

SHOWN_ROWS = 50
TOLERANCE = 1e-6
"""Relative slack for prices stored as doubles."""

INCONSISTENT = f"""
SELECT o.symbol, o.date, o.signal_type, o.outcome, o.entry_date, o.entry_fill, e.open AS entry_day_open,
       o.exit_date, o.exit_price, x.low AS exit_day_low, x.high AS exit_day_high, o.target_price, o.stop_loss
FROM (SELECT * FROM signal_outcomes WHERE date >= $since) o
LEFT JOIN (SELECT * FROM price_history WHERE date >= $since) e ON e.symbol = o.symbol AND e.date = o.entry_date
LEFT JOIN (SELECT * FROM price_history WHERE date >= $since) x ON x.symbol = o.symbol AND x.date = o.exit_date
WHERE o.outcome IN ('target', 'stop', 'timeout') AND (
    x.low IS NULL OR e.open IS NULL
    OR abs(o.entry_fill - e.open) > {TOLERANCE} * e.open
    OR o.exit_price < x.low * (1 - {TOLERANCE}) OR o.exit_price > x.high * (1 + {TOLERANCE})
    OR (o.outcome = 'target' AND o.signal_type = 'BUY' AND o.exit_price < o.target_price * (1 - {TOLERANCE}))
    OR (o.outcome = 'target' AND o.signal_type = 'SELL' AND o.exit_price > o.target_price * (1 + {TOLERANCE}))
    OR (o.outcome = 'stop' AND o.signal_type = 'BUY' AND o.exit_price > o.stop_loss * (1 + {TOLERANCE}))
    OR (o.outcome = 'stop' AND o.signal_type = 'SELL' AND o.exit_price < o.stop_loss * (1 - {TOLERANCE})))
ORDER BY o.date, o.symbol
"""
"""Resolved signals whose fills contradict the bars: the entry is not the entry day's open, the exit
lies outside the exit day's range, or a target (stop) exit sits on the wrong side of its level. Of
the signals from ``$since`` (an entry and an exit are never before their signal's day)."""


class OutcomesCheckConfig(dg.Config):
    full: bool = Field(default=False, description="Check every resolved signal, not only the rows the newest change of the outcomes wrote.")


@dg.asset_check(asset=signal_outcomes,
                description="Every resolved signal entered at its entry day's open and left inside its exit day's range, on the right side of its target or stop.")
def outcomes_match_prices(config: OutcomesCheckConfig, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Reads the rows the newest change of `signal_outcomes` wrote (every row on a periodic full
    check, or when asked: `defs.incremental.checked_since`)."""
    with duckdb.get_connection() as conn:
        since, checked = checked_since(conn, "signal_outcomes", config.full)
        first = pd.Timestamp.min if since is None else since
        bad = conn.execute(INCONSISTENT, {"since": first.date()}).df()
        resolved = conn.execute("SELECT count(*) FROM signal_outcomes WHERE outcome IN ('target', 'stop', 'timeout') AND date >= ?",
                                [first.date()]).fetchall()[0][0]
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(bad)} of {resolved} resolved signals checked contradict the prices" if len(bad)
        else f"all {resolved} resolved signals checked match the prices",
        metadata={"resolved": int(resolved), "inconsistent": len(bad), "checked": checked, "rows": table_preview(bad, rows=SHOWN_ROWS)},
    )


AS_ISSUED_RECORD = ("SELECT symbol, date, entry_date, exit_date, return_net, label, ml_probability, expected_return FROM signal_outcomes "
                    "WHERE label IS NOT NULL AND ml_probability IS NOT NULL")
"""The resolved signals scored on their own day: the record the forward check and the retraining sensor judge."""


def record_health(conn) -> tuple[pd.Timestamp, RecordHealth]:
    """The newest price day and the as-issued record's health on it (``core.monitoring``)."""
    day = pd.Timestamp(conn.execute("SELECT max(date) FROM price_history").fetchone()[0])
    return day, forward_record_health(known_on(conn.execute(AS_ISSUED_RECORD).df()), day)


@dg.asset_check(asset=signal_outcomes,
                description=f"The newest year of as-issued scores still holds: probabilities within {MAX_CALIBRATION_GAP:.0%} of what "
                            "happened (or inside its 95 % interval), and the probability still ranks the net returns (earn-its-place "
                            "standing). Warns; a failing record also asks the retraining sensor for a new model.")
def forward_record_holds(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        day, health = record_health(conn)
    return dg.AssetCheckResult(
        passed=health.holds, severity=dg.AssetCheckSeverity.WARN, description=health.sentence(day),
        metadata=tidy({"day": f"{day:%Y-%m-%d}", "signals": health.signals, "success_rate": health.success_rate,
                       "success_rate_low": health.success_low, "success_rate_high": health.success_high,
                       "mean_probability": health.mean_probability, "calibrated": health.calibrated, "ranks_returns": health.ranks}),
    )
