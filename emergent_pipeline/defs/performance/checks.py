"""Outcomes consistent with the prices they claim to come from, recomputed here from price_history."""

import dagster as dg
import pandas as pd
from pydantic import Field
from dagster_duckdb import DuckDBResource

from emergent_pipeline.defs.incremental import checked_since
from emergent_pipeline.defs.metadata import table_preview
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
