"""PNG charts for asset metadata, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

def to_png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot keeps every open one in memory)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


REGIME_COLOURS = {"BULL": "#2e7d32", "BEAR": "#c62828", "SIDEWAYS": "#f9a825", "UNKNOWN": "#9e9e9e"}


def regime_chart(context: pd.DataFrame, title: str = "Benchmark with market regimes") -> bytes:
    """The benchmark close with SMA50/200 and each day's regime shaded behind it."""
    frame = context.sort_values("date")
    dates = pd.to_datetime(frame["date"])
    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=100)
    ax.plot(dates, frame["close"], color="black", linewidth=0.9, label="close")
    ax.plot(dates, frame["sma_50"], color="#1565c0", linewidth=0.7, label="SMA 50")
    ax.plot(dates, frame["sma_200"], color="#6a1b9a", linewidth=0.7, label="SMA 200")
    band = ax.get_xaxis_transform()  # x in dates, y from 0 to 1 of the axes
    for regime, colour in REGIME_COLOURS.items():
        ax.fill_between(dates, 0, 1, where=(frame["regime"] == regime).to_numpy(), step="post",
                        transform=band, color=colour, alpha=0.18, linewidth=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.35) for c in REGIME_COLOURS.values()]
    line_handles, line_labels = ax.get_legend_handles_labels()
    ax.legend(line_handles + handles, line_labels + list(REGIME_COLOURS), loc="upper left", fontsize=8, ncol=2)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def calibration_chart(table: pd.DataFrame, title: str = "Calibration on the hold-out") -> bytes:
    """Observed success rate against mean predicted probability per bin, with bin counts."""
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(6, 6), dpi=100, height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="perfectly calibrated")
    ax.plot(table["predicted"], table["observed"], marker="o", color="#1565c0", label="model")
    ax.set_ylabel("observed success rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    counts.bar(table["predicted"], table["count"], width=0.05, color="#90a4ae")
    counts.set_xlabel("predicted probability")
    counts.set_ylabel("signals")
    fig.tight_layout()
    return to_png(fig)


def equity_chart(curves: dict[str, pd.DataFrame], title: str = "Out-of-sample equity") -> bytes:
    """Equity curves (growth of 1) of several portfolios on one chart, drawdowns below."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), dpi=100, height_ratios=[2, 1], sharex=True)
    for name, curve in curves.items():
        style = {"color": "black", "linestyle": "--"} if name.startswith("benchmark") else {}
        top.plot(curve.index, curve["equity"], linewidth=1.0, label=name, **style)
        bottom.plot(curve.index, curve["drawdown"], linewidth=0.8, label=name, **style)
    top.set_ylabel("growth of 1")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def tearsheet_html(returns: pd.Series, benchmark: pd.Series, title: str) -> bytes:
    """quantstats' full HTML tearsheet of daily ``returns`` against ``benchmark`` (its statistics,
    drawdowns, monthly returns and charts), as bytes. quantstats is imported here, when one is asked
    for: it takes over a second to import."""
    import logging  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    import warnings  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import quantstats as qs  # noqa: PLC0415

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # its style names Arial, absent here: DejaVu draws it
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its own tick labelling warns; the report is right
        path = Path(folder) / "tearsheet.html"
        qs.reports.html(returns, benchmark=benchmark, output=str(path), title=title, periods_per_year=252)
        plt.close("all")
        return path.read_bytes()

