"""The equity and drawdown plot (matplotlib, PNG bytes, the same inputs give the same bytes)."""

from __future__ import annotations

import io
from contextlib import contextmanager

import pandas as pd

from .. import metrics
from .inputs import ReportInputs


# --------------------------------------------------------------------------- plot


def equity_drawdown_png(inputs: ReportInputs, title: str) -> bytes:
    """Equity (with the benchmark rebased to the starting equity) over drawdown.

    Fixed size and dpi, no metadata, the Agg renderer and no pyplot state:
    the same inputs give the same bytes.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    eq = inputs.equity_series()
    returns = inputs.returns()
    dd = pd.concat([pd.Series([0.0], index=eq.index[:1]), metrics.drawdown_series(returns)])
    bench = pd.Series(inputs.benchmark, dtype=float)
    bench.index = pd.DatetimeIndex(bench.index)
    bench = bench.reindex(eq.index)

    with _plot_style():
        fig = Figure(figsize=(9.0, 5.6), dpi=100, layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1.0))
        top.plot(eq.index, eq.to_numpy(), color="#1f4e79", lw=1.8, label="Account equity")
        first = bench.first_valid_index()
        if first is not None:
            rebased = bench / bench[first] * eq[first]
            top.plot(rebased.index, rebased.to_numpy(), color="#9a9a9a", lw=1.2, ls="--", label=f"{inputs.benchmark_symbol} (rebased)")
        top.set_title(title, loc="left", fontsize=12, fontweight="bold")
        top.set_ylabel(inputs.currency)
        top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        top.legend(loc="upper left", frameon=False, fontsize=9)
        bottom.fill_between(dd.index, dd.to_numpy(), 0.0, color="#c0392b", alpha=0.35, lw=0)
        bottom.plot(dd.index, dd.to_numpy(), color="#c0392b", lw=1.0)
        for level, name, colour in ((inputs.drawdown_warning, "warning", "#e67e22"), (inputs.kill_switch_drawdown, "kill switch", "#7b241c")):
            bottom.axhline(-level, color=colour, lw=1.0, ls=":")
            bottom.annotate(
                f"{name} -{level:.0%}",
                (1.0, -level),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=8,
                color=colour,
            )
        bottom.set_ylim(min(float(dd.min()), -inputs.kill_switch_drawdown) * 1.15, 0.005)
        bottom.set_ylabel("Drawdown")
        bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        locator = AutoDateLocator(minticks=4, maxticks=9)
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        for ax in (top, bottom):
            ax.grid(True, color="#e5e5e5", lw=0.8)
            ax.spines[["top", "right"]].set_visible(False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


@contextmanager
def _plot_style():
    import matplotlib

    with matplotlib.rc_context({"font.family": "DejaVu Sans", "svg.hashsalt": "tradeops", "axes.titlepad": 8}):
        yield
