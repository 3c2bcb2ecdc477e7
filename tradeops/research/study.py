"""One research run end to end: inputs -> backtest -> validation -> a displayable :class:`Study`.

:func:`backtest_study` is the single call behind ``tradeops backtest`` and
the research notebooks: it loads the bars (the seeded demo market or the
AlphaVantage files), runs the strategy through the backtest engine (the live
risk guard and timing), then the robustness runs of
:mod:`tradeops.research.validation`:

- cost stress x1/x2/x3 and a one-session execution delay;
- start-date sensitivity: the same end, starts later by 0, 1/12, 1/6 and 1/4 of the window;
- a parameter neighbourhood (target positions +-5; for momentum also the
  12-week lookback x0.75 / x1.25); these trials feed PBO (CSCV) and the
  deflated Sharpe ratio of the base run (on returns over the benchmark when the data has it);
- the drawdown halts of the base run and the resume the study assumed (``research.halt_resume``);
- regime slices; returns by year (or quarter for windows under two years) with the benchmark's;
- walk-forward with re-fit: before every fold the variant with the best Sharpe so far is
  chosen again and its fold is out of sample (:func:`tradeops.research.validation.walk_forward_refit`).

Identical (policy, costs, start) runs are computed once.  For ``qlib_lgbm``
the LightGBM predictions are made once (rolling, purged) and shared by
every run; IC and rank IC are reported.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .. import metrics
from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Universe, parse_policy, parse_universe, universe_csv
from ..errors import DataError, ValidationError
from . import promotion, validation
from .benchmark import require_benchmark
from . import array_engine
from .backtest import BacktestResult, Costs, Market, live_ranker, run_backtest, scores_ranker
from .sources import alphavantage_symbols
from .store import ResearchBars, clean_research_bars, findings_table

SOURCES = ("demo", "alphavantage")
ENGINES = ("array", "exact")
STRATEGIES = ("momentum", "qlib_lgbm")


@dataclass(repr=False)
class Study:
    """A backtest and its validation tables; displays itself in Jupyter."""

    strategy: str
    source: str
    start: date
    end: date
    symbols: tuple[str, ...]
    benchmark_symbol: str
    costs: Costs
    result: BacktestResult
    benchmark: pd.Series  # benchmark closes on the backtest's sessions (empty if not in the data)
    tables: dict[str, pd.DataFrame]  # title -> table, in display order
    pbo: validation.PBOResult | None
    dsr: validation.DeflatedSharpe | None
    ic: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    data_snapshot: str | None = None  # sha256 of the clean snapshot the bars came from (None: generated in memory)
    verdict: "promotion.Verdict | None" = None  # the promotion gate on this study's sweep
    benchmark_source: str = ""  # where the benchmark came from, or benchmark.NO_BENCHMARK

    @property
    def returns(self) -> pd.Series:
        return self.result.returns

    def summary(self) -> dict[str, float]:
        return metrics.summary(self.returns)

    def summary_text(self) -> str:
        s = self.summary()
        lines = [
            f"{self.strategy} on {len(self.symbols)} {self.source} symbols, {self.start}..{self.end}: "
            f"total {s['total_return']:+.2%}, CAGR {s['cagr']:+.2%}, Sharpe {s['sharpe']:.2f}, "
            f"max drawdown {s['max_drawdown']:.2%}, {len(self.result.trades)} fills"
        ]
        if self.benchmark_source:
            lines.append(f"benchmark: {self.benchmark_source}")
        if self.pbo is not None and self.dsr is not None:
            lines.append(f"PBO {self.pbo.pbo:.2f} over {self.dsr.n_trials} trials; deflated Sharpe {self.dsr.dsr:.2f}")
        lines.append(f"drawdown halts: {len(self.result.halts)}; {self.result.resume_rule}")
        if self.verdict is not None:
            lines.append(self.verdict.summary())
        if self.ic is not None:
            lines.append(f"IC {self.ic['ic']:.4f}, rank IC {self.ic['rank_ic']:.4f} over {self.ic['sessions']} sessions")
        if self.data_snapshot:
            lines.append(f"data: clean snapshot {self.data_snapshot}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary_text()

    def _repr_html_(self) -> str:
        from .report import study_html

        return study_html(self)


def universe_of(stocks: list[str], benchmark: str, sectors: dict[str, str] | None = None) -> Universe:
    """A research universe: ``stocks`` tradable, ``benchmark`` as the ETF."""
    sectors = sectors or {}
    rows = [(s, "stock", sectors.get(s, "Unknown")) for s in stocks] + [(benchmark, "ETF", "Benchmark")]
    return parse_universe(universe_csv(rows, notes="research"), benchmark)


def warmup_sessions(policy: Policy, strategy: str) -> int:
    """Sessions of history the strategy needs before the first decision."""
    m = policy.strategy.momentum
    need = max(m.lookback_12w, m.volatility_window, policy.portfolio.risk_off_ma_sessions) + 5
    if strategy == "qlib_lgbm":
        from .model import history_needed

        need = max(need, history_needed(policy))
    return need


def load_bars(
    source: str,
    start: date,
    end: date,
    symbols: int,
    policy: Policy,
    strategy: str,
    av_dir: str | Path | None = None,
    seed: int = 42,
    calendar: ExchangeCalendar | None = None,
    store_dir: str | Path | None = None,
    corrections_file: str | Path | None = None,
) -> tuple[pd.DataFrame, Universe, ResearchBars]:
    """``symbols`` stocks (plus the benchmark, when the source has it) with warm-up history before ``start``.

    Every source (the AlphaVantage folder, the demo generator) goes through fetch, build and
    the quality checks into a research workspace under ``store_dir`` (a temporary folder when
    None) first (:mod:`tradeops.research.store`): the bars are that clean snapshot's, with
    excluded symbols and quarantined bars left out.
    """
    calendar = calendar or get_calendar(policy.schedule.exchange)
    first = calendar.session_offset(calendar.next_session(start) if not calendar.is_session(start) else start, -warmup_sessions(policy, strategy))
    bench = policy.universe.benchmark
    if source == "demo":
        stocks = [f"D{i:03d}" for i in range(symbols)]
        universe = universe_of(stocks, bench, {s: "Demo" for s in stocks})
    elif source == "alphavantage":
        if av_dir is None:
            raise ValidationError("source alphavantage needs av_dir, the folder of DA-<SYMBOL>-T-*.csv files")
        stocks = alphavantage_symbols(av_dir)[:symbols]
        universe = universe_of([s for s in stocks if s != bench], bench)
    else:
        raise ValidationError(f"unknown research source {source!r}; expected one of {SOURCES}")
    with tempfile.TemporaryDirectory(prefix="tradeops-research-") as tmp:
        bars = clean_research_bars(
            Path(store_dir) if store_dir else Path(tmp),
            source,
            universe,
            policy,
            calendar,
            first,
            end,
            av_dir,
            Path(corrections_file) if corrections_file else None,
            seed,
        )
    return bars.eod, universe, bars


def run_study(
    eod: pd.DataFrame,
    policy: Policy,
    universe: Universe,
    start: date,
    end: date,
    strategy: str = "momentum",
    costs: Costs | None = None,
    source: str = "custom",
    qlib_dir: str | Path | None = None,
    calendar: ExchangeCalendar | None = None,
    data: ResearchBars | None = None,
    sweep: bool = False,
    benchmark_file: str | Path | None = None,
    no_benchmark: bool = False,
    models_dir: str | Path | None = None,
    engine: str = "array",
) -> Study:
    """Backtest ``strategy`` on ``eod`` over [start, end] and run every validation table.

    ``engine``: ``array`` (default; :mod:`tradeops.research.array_engine`, held to the live
    guard by the conformance test) for the strategies it supports, else the exact engine with
    a note; ``exact``: every backtest through the live Decimal guard (audits).

    ``data``: where ``eod`` came from in the clean store; its quarantined ranges are honoured
    by every backtest, and its snapshot hash, notes and findings go into the study.
    ``sweep``: the trials are the pre-registered sweep of :func:`sweep_variants` (what the
    promotion gate needs) instead of the small parameter neighbourhood.  Bars without the
    policy's benchmark stop the study unless ``benchmark_file`` (a Stooq export) or
    ``no_benchmark`` says what to do (:func:`tradeops.research.benchmark.require_benchmark`).
    ``models_dir``: the model registry the qlib_lgbm fits are stored in and loaded from
    (the live signal's; the study lists the fits it used)."""
    if strategy not in STRATEGIES:
        raise ValidationError(f"unknown research strategy {strategy!r}; expected one of {STRATEGIES}")
    eod, benchmark_source = require_benchmark(eod, policy, benchmark_file, no_benchmark)
    calendar = calendar or get_calendar(policy.schedule.exchange)
    costs = costs or Costs(policy.research.cost_bps, policy.research.slippage_bps)
    sessions = calendar.sessions(start, end)
    if len(sessions) < 20:
        raise DataError(f"research window {start}..{end} has {len(sessions)} sessions; at least 20 are needed")
    start, end = sessions[0], sessions[-1]
    notes: list[str] = list(data.notes) if data is not None else []
    quarantine = data.quarantine if data is not None else ()
    ic = None
    if strategy == "qlib_lgbm":
        scores, ic, fits = _lgbm_scores(eod, policy, universe, start, end, qlib_dir, calendar, models_dir)
        models_table = pd.DataFrame(list(fits), columns=["retrain_session", "train_start", "train_end", "test_start", "test_end", "test_rows", "model_id"])
        make_ranker = lambda p: scores_ranker(scores, eod, p, universe, "qlib_lgbm")  # noqa: E731
    else:
        momentum = policy.model_copy(update={"strategy": policy.strategy.model_copy(update={"signal": "momentum"})})
        policy = momentum
        make_ranker = lambda p: live_ranker(eod, p, universe, calendar)  # noqa: E731

    use_array, engine_notes = choose_engine(engine, strategy, policy)
    notes.extend(engine_notes)
    cache: dict[tuple, BacktestResult] = {}
    arrays: dict = {}

    def run(p: Policy, c: Costs, s: date) -> BacktestResult:
        key = (p.hash(), c, s)
        if key not in cache:
            if use_array:
                if "market" not in arrays:
                    arrays["market"] = Market(eod, calendar)
                sig = array_engine.signal_key(p)
                if sig not in arrays:
                    arrays[sig] = array_engine.momentum_panel(eod, p, universe, arrays["market"])
                cache[key] = array_engine.run_array_backtest(
                    eod, p, universe, s, end, c, calendar=calendar, market=arrays["market"], signal=arrays[sig], quarantine=quarantine
                )
            else:
                cache[key] = run_backtest(eod, p, universe, s, end, make_ranker(p), c, calendar=calendar, quarantine=quarantine)
        return cache[key]

    base = run(policy, costs, start)
    notes.append(
        f"drawdown halt: {len(base.halts)} halt(s) at the {policy.risk.kill_switch_drawdown:.0%} limit; "
        f"each sells the book to cash at the next open; {base.resume_rule} (research.halt_resume; live, only `tradeops resume --reason`)"
    )
    starts = sorted({sessions[k] for k in (0, len(sessions) // 12, len(sessions) // 6, len(sessions) // 4)})
    variants = sweep_variants(policy, strategy) if sweep else _neighbourhood(policy, strategy)
    freq = "YE" if (end - start).days > 730 else "QE"
    trials = pd.concat({label: run(validation.with_update(policy, upd), costs, start).returns for label, upd in variants.items()}, axis=1).dropna()
    closes = eod.loc[eod["symbol"] == policy.universe.benchmark].set_index("date")["close"]
    bench = closes.reindex(base.equity.index).dropna()
    tables = {
        "Drawdown halts": halts_table(base),
        ("Returns by year" if freq == "YE" else "Returns by quarter"): validation.returns_by_period(base.returns, bench if len(bench) else None, freq),
        "Walk-forward (re-fit)": validation.walk_forward_refit(trials, freq),
        "Cost stress": validation.cost_stress(run, policy, costs, start),
        "Execution delay": validation.execution_delay(run, policy, costs, start),
        "Start-date sensitivity": validation.start_sensitivity(run, policy, costs, starts),
        "Parameter neighbourhood": validation.parameter_neighbourhood(run, policy, costs, start, variants),
        "Regime slices": validation.regime_slices(base.returns),
    }
    if strategy == "qlib_lgbm":
        tables["Model fits"] = models_table
    if data is not None:
        tables["Data findings (clean snapshot " + data.snapshot[:16] + ")"] = findings_table(
            data.report, set(universe.symbols), pd.Timestamp(eod["date"].min()).date(), end
        )
    if bench.empty:
        notes.append(f"benchmark {policy.universe.benchmark} is not in the {source} data: the tearsheet has no benchmark")
    pbo = dsr = None
    partitions = 16 if len(trials) >= 160 else 8 if len(trials) >= 40 else 0
    if partitions and trials.shape[1] >= 2:
        pbo = validation.pbo_cscv(trials, partitions)
        # DSR on the returns over the benchmark when there is one: beating cash is not the bar
        excess = validation.excess_returns(trials, bench) if len(bench) > 2 else trials
        sharpes = excess.mean() / excess.std(ddof=1)
        own = validation.excess_returns(base.returns, bench) if len(bench) > 2 else base.returns
        dsr = validation.deflated_sharpe(own, trials.shape[1], float(np.nan_to_num(sharpes.var(ddof=1))))
        notes.append("deflated Sharpe on " + (f"returns over {policy.universe.benchmark}" if len(bench) > 2 else "raw returns (no benchmark)"))
    else:
        notes.append(f"PBO and deflated Sharpe skipped: {len(trials)} sessions are too few for CSCV (40 needed)")
    symbols = tuple(sorted(s for s in universe.tradable if s != policy.universe.benchmark))
    verdict = None
    if partitions and trials.shape[1] >= 2:
        verdict = promotion.judge(
            promotion.gather(trials, "base", bench.rename(policy.universe.benchmark) if len(bench) else None, policy.promotion), policy.promotion
        )
        tables = {"Promotion gate": verdict.table(), **tables}
    return Study(
        strategy,
        source,
        start,
        end,
        symbols,
        policy.universe.benchmark,
        costs,
        base,
        bench,
        tables,
        pbo,
        dsr,
        ic,
        notes,
        data.snapshot if data is not None else None,
        verdict,
        benchmark_source,
    )


def choose_engine(engine: str, strategy: str, policy: Policy) -> tuple[bool, list[str]]:
    """Whether a backtest of ``strategy`` under ``policy`` runs on the array engine, and the notes
    saying which engine ran and why: ``array`` (the default of ``tradeops backtest`` and the
    agent's research tools) where :func:`tradeops.research.array_engine.supports` it (momentum,
    USD accounts, fractional units), else the exact engine; ``exact``: the live Decimal guard on
    every decision (audits)."""
    if engine not in ENGINES:
        raise ValidationError(f"unknown backtest engine {engine!r}; expected one of {ENGINES}")
    notes = []
    use_array = False
    if engine == "array":
        use_array, why = array_engine.supports(strategy, policy)
        if not use_array:
            notes.append(f"engine: {why}")
    notes.append(
        "engine: array (numpy/numba; the live guard's rules, conformance-tested)" if use_array else "engine: exact (the live Decimal guard on every decision)"
    )
    return use_array, notes


def run_one_backtest(
    eod: pd.DataFrame, policy: Policy, universe: Universe, start: date, end: date, engine: str = "array", calendar: ExchangeCalendar | None = None
) -> tuple[BacktestResult | array_engine.ArrayResult, list[str]]:
    """One backtest of the policy's own signal with the live ranker's inputs, on the engine
    :func:`choose_engine` picks (the agent's research tools; :func:`run_study` for the CLI and the
    notebooks).  Returns the result and the engine notes."""
    use_array, notes = choose_engine(engine, policy.strategy.signal, policy)
    if use_array:
        return array_engine.run_array_backtest(eod, policy, universe, start, end, calendar=calendar), notes
    return run_backtest(eod, policy, universe, start, end, calendar=calendar), notes


def sweep_variants(policy: Policy, strategy: str) -> dict[str, dict]:
    """The pre-registered sweep: 16 variants fixed before any result is seen, the policy's own
    configuration ("base") among them.  Momentum: target positions {10, 15, 20, 25} x 12-week
    lookback {40, 60, 80, 100}; qlib_lgbm (one set of scores): target positions x rebalance
    {weekly, monthly} x max weight {10%, 7%}."""
    p = policy.portfolio

    def positions(n: int) -> dict:
        return {"target_positions": n, "min_positions": min(p.min_positions, n), "max_positions": max(p.max_positions, n)}

    grid: dict[str, dict] = {}
    if strategy == "momentum":
        m = policy.strategy.momentum
        for n in (10, 15, 20, 25):
            for lb in (40, 60, 80, 100):
                grid[f"{n} positions, 12-week lookback {lb}"] = {
                    "portfolio": positions(n),
                    "strategy": {"momentum": {"lookback_12w": max(lb, m.lookback_4w + 1)}},
                }
    else:
        for n in (10, 15, 20, 25):
            for freq in ("weekly", "monthly"):
                for w in (0.10, 0.07):
                    grid[f"{n} positions, {freq}, max weight {w:.0%}"] = {"portfolio": {**positions(n), "max_weight": w}, "rebalance": {"frequency": freq}}
    base = {key: upd for key, upd in grid.items() if validation.with_update(policy, upd).hash() == policy.hash()}
    out = {"base": {}}
    out.update({k: v for k, v in grid.items() if k not in base})
    return out


def halts_table(result: BacktestResult) -> pd.DataFrame:
    """Every drawdown halt of a backtest and the resume the study assumed for it."""
    rows = [
        {
            "breach (decision session)": h["breach"],
            "drawdown": h["drawdown"],
            "equity at breach": f"{h['equity']:,.2f}",
            "in cash from": h["in_cash"] or "not yet",
            "assumed resume": h["resumed"] or "none (end of backtest)",
            "sessions in HALT": h["sessions_halted"],
            "why resumed": h["resume_reason"],
        }
        for h in result.halts
    ]
    return pd.DataFrame(
        rows, columns=["breach (decision session)", "drawdown", "equity at breach", "in cash from", "assumed resume", "sessions in HALT", "why resumed"]
    )


def _neighbourhood(policy: Policy, strategy: str) -> dict[str, dict]:
    """Label -> policy update: the base, target positions +-5, and (momentum) the 12-week lookback x0.75/x1.25."""
    p = policy.portfolio
    out: dict[str, dict] = {"base": {}}
    for n in (p.target_positions - 5, p.target_positions + 5):
        if 1 <= n <= 100:
            out[f"{n} positions"] = {"portfolio": {"target_positions": n, "min_positions": min(p.min_positions, n), "max_positions": max(p.max_positions, n)}}
    if strategy == "momentum":
        m = policy.strategy.momentum
        for k in (0.75, 1.25):
            n = max(m.lookback_4w + 1, round(m.lookback_12w * k))
            out[f"12-week lookback {n}"] = {"strategy": {"momentum": {"lookback_12w": n}}}
    return out


def _lgbm_scores(eod, policy, universe, start, end, qlib_dir, calendar, models_dir=None) -> tuple[pd.DataFrame, dict[str, float], tuple]:
    """Rolling purged LightGBM predictions over [start, end], their IC summary and the fits
    (stored in / loaded from the model registry ``models_dir`` when given)."""
    from .registry import ModelRegistry

    from qlib.workflow import R

    from .model import ic_summary, information_coefficient, labels, rolling_predict
    from .qlib_data import dump_to_qlib, init_qlib

    stocks = sorted(s for s in universe.tradable if s != policy.universe.benchmark)
    frame = eod.loc[eod["symbol"].isin(stocks)]
    with tempfile.TemporaryDirectory(prefix="tradeops-study-") as tmp:
        folder = Path(qlib_dir) if qlib_dir is not None else Path(tmp) / "qlib"
        dump_to_qlib(frame, folder, calendar)
        init_qlib(folder, folder.parent / "mlruns")
        result = rolling_predict(stocks, start, end, policy.research, calendar, ModelRegistry(models_dir) if models_dir else None)
        label_end = calendar.session_offset(end, -(policy.research.label_horizon + 1))
        ic = information_coefficient(result.predictions.loc[: pd.Timestamp(label_end)], labels(stocks, start, label_end, policy.research.label_horizon))
        R.end_exp()
    return result.predictions, ic_summary(ic), result.fits


def backtest_study(
    source: str = "demo",
    start: date | str = "2022-01-03",
    end: date | str = "2023-12-29",
    strategy: str = "momentum",
    symbols: int = 30,
    av_dir: str | Path | None = None,
    policy: Policy | dict | None = None,
    seed: int = 42,
    report_path: str | Path | None = None,
    qlib_dir: str | Path | None = None,
    sweep: bool = False,
    store_dir: str | Path | None = None,
    corrections_file: str | Path | None = None,
    benchmark_file: str | Path | None = None,
    no_benchmark: bool = False,
    models_dir: str | Path | None = None,
    engine: str = "array",
) -> Study:
    """The whole research run (the notebooks' and ``tradeops backtest``'s one call): load
    ``symbols`` stocks from ``source``, backtest ``strategy`` over [start, end], validate, and
    (with ``report_path``) write the HTML report there."""
    policy = policy if isinstance(policy, Policy) else parse_policy(policy or {})
    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    if symbols < 2:
        raise ValidationError(f"a research run needs at least 2 symbols, got {symbols}")
    calendar = get_calendar(policy.schedule.exchange)
    eod, universe, data = load_bars(source, start, end, symbols, policy, strategy, av_dir, seed, calendar, store_dir, corrections_file)
    study = run_study(
        eod,
        policy,
        universe,
        start,
        end,
        strategy,
        source=source,
        qlib_dir=qlib_dir,
        calendar=calendar,
        data=data,
        sweep=sweep,
        benchmark_file=benchmark_file,
        no_benchmark=no_benchmark,
        models_dir=models_dir,
        engine=engine,
    )
    if report_path:
        from .report import write_report

        write_report(study, report_path)
    return study
