"""The assistant's research tools (compute only: backtests, sweeps, scores, risk what-ifs),
a part of :class:`tradeops.agent.tools.Toolbox`, which supplies the workspace, its policy and data."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..calendar import get_calendar
from ..config import Policy
from ..errors import DataError, ValidationError
from ..ledger import api

from .limits import OVERRIDES, MAX_BACKTEST_SESSIONS, MAX_SWEEP_SESSIONS, MAX_SWEEP_VALUES, MAX_TOP, RESEARCH_REPORTS, _decision_counts, _num, with_overrides


class ResearchTools:
    """Mixed into :class:`~tradeops.agent.tools.Toolbox` (``self.policy``, ``self.eod``, ``self.reading()``...)."""

    def _research_window(self, start: date | None, end: date | None, limit: int, what: str, default: int) -> tuple[date, date]:
        first, last = self._sessions_covered()
        cal = get_calendar(self.policy().schedule.exchange)
        end = end or last
        if start is None:
            start = cal.session_offset(cal.previous_session(end) if not cal.is_session(end) else end, -default)
        self._check_window(start, end, what)
        n = len(cal.sessions(start, end))
        if n > limit:
            raise ValidationError(f"{what}: {start}..{end} has {n} sessions; at most {limit} per call")
        if n < 20:
            raise ValidationError(f"{what}: {start}..{end} has {n} sessions; at least 20 are needed")
        return start, end

    def _run_backtest(self, policy: Policy, start: date, end: date):
        """The policy's backtest on the engine ``tradeops backtest`` would use: the array engine
        where it supports the policy (momentum, USD, fractional units), else the exact one
        (:func:`tradeops.research.study.choose_engine`, the CLI's rule)."""
        from ..research.study import run_one_backtest

        result, _ = run_one_backtest(self.eod(), policy, self.universe(policy), start, end, calendar=get_calendar(policy.schedule.exchange))
        return result

    @staticmethod
    def _backtest_answer(result) -> dict:
        from .. import metrics

        summary = {k: _num(v) for k, v in metrics.summary(result.returns).items()}
        return {
            "metrics": summary,
            "fills": len(result.trades),
            "final_equity": _num(result.equity.iloc[-1]),
            "decisions": _decision_counts(result),
            "engine": getattr(result, "engine", "exact"),
        }

    def _backtest(self, policy: Policy, start: date, end: date) -> dict:
        return self._backtest_answer(self._run_backtest(policy, start, end))

    def research_report_path(self, policy: Policy, start: date, end: date) -> Path:
        """Where the report of one backtest goes: ``reports/research/backtest-<key>.html``, the key
        a hash of the window, the policy and the clean snapshot, so the same question always
        names the same file (and the same bytes)."""
        key = hashlib.sha256(
            json.dumps([start.isoformat(), end.isoformat(), policy.hash(), self.workspace.clean_path.name, self.workspace.clean_path.parent.name]).encode()
        ).hexdigest()[:16]
        return self.workspace.reports_dir / RESEARCH_REPORTS / f"backtest-{key}.html"

    def _write_report(self, policy: Policy, start: date, end: date, result) -> Path:
        """The backtest's tearsheet with its run description and halts (no validation sweep:
        that is `tradeops backtest`, minutes, not a tool call)."""
        from ..research.backtest import Costs
        from ..research.report import write_report
        from ..research.study import Study, halts_table

        eod = self.eod()
        bench_symbol = policy.universe.benchmark
        closes = eod.loc[eod["symbol"] == bench_symbol].set_index("date")["close"]
        bench = closes.reindex(result.equity.index).dropna()
        universe = self.universe(policy)
        symbols = tuple(sorted(s for s in universe.tradable if s != bench_symbol))
        decisions = pd.DataFrame(list(_decision_counts(result).items()), columns=["decision", "sessions"])
        notes = [
            "a tool call's report: the backtest alone; the validation tables (walk-forward, cost stress, "
            "PBO, deflated Sharpe, promotion gate) come from `tradeops backtest`"
        ]
        if bench.empty:
            notes.append(f"benchmark {bench_symbol} is not in the clean data: the tearsheet has no benchmark")
        study = Study(
            policy.strategy.signal,
            "workspace",
            start,
            end,
            symbols,
            bench_symbol,
            Costs(policy.research.cost_bps, policy.research.slippage_bps),
            result,
            bench,
            {"Decisions": decisions, "Drawdown halts": halts_table(result)},
            None,
            None,
            None,
            notes,
            self.workspace.clean_path.parent.name,
            None,
            bench_symbol if not bench.empty else "",
        )
        return write_report(study, self.research_report_path(policy, start, end))

    def backtest(self, start: date | None = None, end: date | None = None, overrides: Mapping[str, object] | None = None) -> dict:
        """The live signal and risk guard replayed over the clean data (costs from the policy).

        Writes one file, the report, under ``reports/research/`` (never the ledger, the
        runs, the tickets or the data); its path is in the answer."""
        policy = with_overrides(self.policy(), overrides or {})
        start, end = self._research_window(start, end, MAX_BACKTEST_SESSIONS, "backtest", 120)
        result = self._run_backtest(policy, start, end)
        report = self._write_report(policy, start, end, result)
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "strategy": policy.strategy.signal,
            "parameters": {k: v for k, v in (overrides or {}).items() if v is not None},
            **self._backtest_answer(result),
            "report": str(report),
            "note": "computed on the workspace's clean data; the report (tearsheet, decisions, halts) is the only file "
            "written; `tradeops backtest` adds the validation tables",
        }

    def sweep(self, parameter: str, values: Sequence, start: date | None = None, end: date | None = None) -> dict:
        """The same backtest for a few values of one parameter."""
        if parameter not in OVERRIDES:
            raise ValidationError(f"unknown parameter {parameter!r}; allowed: {sorted(OVERRIDES)}")
        if not 1 <= len(values) <= MAX_SWEEP_VALUES:
            raise ValidationError(f"values: {len(values)} given; between 1 and {MAX_SWEEP_VALUES} per sweep")
        start, end = self._research_window(start, end, MAX_SWEEP_SESSIONS, "sweep", 60)
        base = self.policy()
        policies = [(v, with_overrides(base, {parameter: v})) for v in values]  # all validated before any compute
        rows = [{"value": v, **self._backtest(p, start, end)} for v, p in policies]
        return {"parameter": parameter, "start": start.isoformat(), "end": end.isoformat(), "results": rows}

    def score_universe(self, signal: str | None = None, session: date | None = None, top: int = 25) -> dict:
        """Rank the universe with a named signal on the clean data up to ``session`` (default: the latest)."""
        from ..signals import available, compute_signal

        if signal is not None and signal not in available():
            raise ValidationError(f"unknown signal {signal!r}; available: {available()}")
        if not 1 <= top <= MAX_TOP:
            raise ValidationError(f"top {top} is outside 1..{MAX_TOP}")
        policy = with_overrides(self.policy(), {"signal": signal})
        session = self._decision_session(session)
        result = compute_signal(self.eod(), policy, session, self.universe(policy))
        ranked = result.ranked.head(top)
        rows = [{"rank": int(r["rank"]), "symbol": str(r["symbol"]), "score": _num(r["score"]), "selected": bool(r["selected"])} for _, r in ranked.iterrows()]
        return {
            "signal": result.strategy,
            "session": session.isoformat(),
            "note": result.note,
            "ranked_total": len(result.ranked),
            "top": rows,
            "dropped": dict(sorted(result.dropped.items())[:MAX_TOP]),
            "risk_off_reasons": list(result.risk_off_reasons),
        }

    def _decision_session(self, session: date | None) -> date:
        first, last = self._sessions_covered()
        session = session or last
        if not first <= session <= last:
            raise ValidationError(f"session {session} is out of range; the clean data covers {first}..{last}")
        if not get_calendar(self.policy().schedule.exchange).is_session(session):
            raise ValidationError(f"session {session} is not an exchange session")
        return session

    # ------------------------------------------------------------------ risk guard what-if

    def risk_what_if(self, session: date | None = None, rebalance: bool | None = None, overrides: Mapping[str, object] | None = None) -> dict:
        """Targets and the approved trade list the guard would give for the ledger's book today,
        with the rule results the ticket shows.  Writes nothing."""
        from ..portfolio import PortfolioState
        from ..risk import decide, rebalance_due, reference_prices
        from ..signals import compute_signal
        from ..ledger_book import last_rebalance, peak_equivalent  # the daily run's own book-keeping

        policy = with_overrides(self.policy(), overrides or {})
        universe = self.universe(policy)
        session = self._decision_session(session)
        cal = get_calendar(policy.schedule.exchange)
        execution = cal.next_session(session)
        prices = self._price_series()
        with self.reading() as s:
            cash = api.compute_cash(s)
            switch, state = api.kill_switch(s), api.current_state(s)
            since = api.last_resume(s)
            try:  # the peak as the daily run's preflight sees it (the ledger's price cache) ...
                points, peak_from = api.compute_equity_curve(s, start=since, end=session), "ledger price cache"
            except DataError:  # ... or, before any run has filled that cache, the clean data
                points, peak_from = api.compute_equity_curve(s, prices, start=since, end=session), "clean data"
            portfolio = PortfolioState(
                as_of=session,
                cash=cash.amount,
                positions=api.compute_positions(s),
                peak_equity=peak_equivalent(points),
                account_currency=cash.currency,
                state=state.value or "RUN",
                kill_switch=switch.value == "ON",
                kill_switch_reason=switch.reason,
                last_rebalance=last_rebalance(s, execution),
            )
        eod = self.eod()
        signal = compute_signal(eod, policy, session, universe, cal)
        if rebalance is None:
            rebalance = rebalance_due(cal, session, policy.rebalance.frequency, portfolio.last_rebalance)
        fx = None
        if portfolio.account_currency != "USD":  # sized in the account currency at the day's checked rate
            from ..data.fx import workspace_fx_rate
            from ..risk import Fx

            rate = workspace_fx_rate(self.workspace, session)
            fx = Fx(portfolio.account_currency, rate.pair, rate.rate, rate.date, policy.account.fx_fee_bps)
        _, decision = decide(
            signal.ranked,
            portfolio,
            reference_prices(eod, session),
            policy,
            universe,
            rebalance,
            session,
            risk_off_reasons=signal.risk_off_reasons,
            strategy=signal.strategy,
            signal_note=signal.note,
            regime=signal.meta()["regime"],
            fx=fx,
        )
        out = decision.to_dict()
        out["what_if"] = {
            "decision_session": session.isoformat(),
            "execution_session": execution.isoformat(),
            "parameters": {k: v for k, v in (overrides or {}).items() if v is not None},
            "kill_switch": switch.value,
            "state": state.value,
            "portfolio": portfolio.to_dict(),
            "peak_from": peak_from,
            "note": "a what-if: no ticket was issued and nothing was written; the daily run's gates (kill switch, "
            "confirmations, reconciliation, data quality) still decide whether a real ticket may trade",
        }
        return out
