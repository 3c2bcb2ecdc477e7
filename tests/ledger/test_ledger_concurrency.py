"""Two confirmations submitted at the same time, on two connections."""

from __future__ import annotations

import threading
from decimal import Decimal as D

from sqlalchemy import func, select

from tradeops.errors import LedgerError
from tradeops.ledger import api, db
from tradeops.ledger.models import Fill

ROUNDS = 3


def _race(url: str, jobs) -> list:
    """Run each job(session) in its own thread with its own engine, released together."""
    engines = [db.make_engine(url) for _ in jobs]
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        try:
            barrier.wait(timeout=10)
            with db.transaction(engines[i]) as s:
                results[i] = job(s)
        except Exception as err:  # noqa: BLE001 - the outcome is what the test checks
            results[i] = err

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    return results


def test_same_line_confirmed_twice_at_once_gives_one_fill(ledger_engine, db_url, kit):
    with db.transaction(ledger_engine) as s:
        kit.fund(s)
        for n in range(ROUNDS):
            kit.ticket(s, f"T{n}", f"2024-01-0{n + 2}", [("BUY", "AAPL", "1000", "10", "100")])
    for n in range(ROUNDS):

        def confirm(s, who, n=n):
            return api.record_fill(s, f"T{n}", 1, "executed", units="10", price="100", filled_at=kit.at(f"2024-01-0{n + 2}"), actor=who).id

        results = _race(db_url, [lambda s: confirm(s, "ann"), lambda s: confirm(s, "bob")])
        ok = [r for r in results if isinstance(r, int)]
        refused = [r for r in results if isinstance(r, LedgerError)]
        assert len(ok) == 1 and len(refused) == 1, results
        assert "already confirmed" in str(refused[0])
    with db.transaction(ledger_engine) as s:
        assert s.scalar(select(func.count()).select_from(Fill)) == ROUNDS
        assert api.compute_positions(s) == {"AAPL": D(10 * ROUNDS)}


def test_two_sells_cannot_both_take_the_same_units(ledger_engine, db_url, kit):
    with db.transaction(ledger_engine) as s:
        kit.fund(s)
        kit.buy(s, "B", "2024-01-02", "AAPL", 10, 100)
        kit.ticket(s, "S", "2024-01-03", [("SELL", "AAPL", "800", "8", "100"), ("SELL", "AAPL", "800", "8", "100")])

    def sell(line):
        return lambda s: api.record_fill(s, "S", line, "executed", units="8", price="100", filled_at=kit.at("2024-01-03"), actor="t").id

    results = _race(db_url, [sell(1), sell(2)])
    assert sum(isinstance(r, int) for r in results) == 1, results
    assert any(isinstance(r, LedgerError) and "would go negative" in str(r) for r in results), results
    with db.transaction(ledger_engine) as s:
        assert api.compute_positions(s) == {"AAPL": D(2)}
