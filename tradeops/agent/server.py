"""The MCP server: the :class:`~tradeops.agent.tools.Toolbox` as tools an assistant can call.

Built on the official MCP Python SDK (``mcp`` 2.x, :class:`mcp.server.mcpserver.MCPServer`).
Each tool's JSON Schema comes from its typed signature (types, bounds,
patterns, enumerations), so a wrong type, an out-of-range number or a
symbol that is not a symbol is refused by the SDK before the tool runs.
Every refusal the package raises on purpose (:class:`~tradeops.errors.TradeopsError`)
becomes a tool error with its message; anything else is a tool error that
says only that the tool failed (the SDK logs the traceback on the server's
stderr, the client never sees it).

Only read tools are registered, plus ``write_fills`` when the server is
started with ``allow_fills``.  There is no tool that issues, edits or
supersedes a ticket, changes the policy or the kill switch, resumes from
HALT, or places an order: such tools do not exist, so no prompt can reach them.
"""

from __future__ import annotations

import functools
import hmac
import logging
from datetime import date
from typing import Annotated, Any, Callable, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from ..errors import TradeopsError
from .tools import MAX_SWEEP_VALUES, MAX_SYMBOLS, MAX_TOP, TICKET_ID, Toolbox

log = logging.getLogger(__name__)

NAME = "tradeops"
TOKEN_ENV = "TRADEOPS_MCP_TOKEN"
MIN_TOKEN = 16
ACTOR_PREFIX = "mcp:"

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9.\-]{0,11}$", description="Ticker as in the universe, e.g. AAPL or BRK.B")]
TicketId = Annotated[str, Field(pattern=TICKET_ID.pattern, description="e.g. TICKET-20250106 (or TICKET-20250106-R2 for a revision)")]
Page = Annotated[int, Field(ge=1, le=10_000, description="1-based page of the result (200 rows a page)")]
Signal = Literal["momentum", "rotation"]
SweepParameter = Literal[
    "lookback_1w", "lookback_4w", "lookback_12w", "volatility_window", "target_positions", "max_positions", "max_weight", "min_cash_buffer", "max_turnover"
]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


class Parameters(BaseModel):
    """Strategy and portfolio parameters to change for this call only (the policy file is not touched).
    Each is checked against the same bounds as config/policy.yml."""

    model_config = ConfigDict(extra="forbid")

    signal: Signal | None = None
    lookback_1w: Annotated[int, Field(ge=1, le=5000)] | None = Field(None, description="sessions (policy strategy.momentum.lookback_1w)")
    lookback_4w: Annotated[int, Field(ge=1, le=5000)] | None = Field(None, description="sessions")
    lookback_12w: Annotated[int, Field(ge=1, le=5000)] | None = Field(None, description="sessions; a 6-month lookback is about 126")
    volatility_window: Annotated[int, Field(ge=2, le=5000)] | None = None
    target_positions: Annotated[int, Field(ge=1, le=100)] | None = None
    max_positions: Annotated[int, Field(ge=1, le=100)] | None = None
    max_weight: Annotated[float, Field(gt=0, le=1)] | None = None
    min_cash_buffer: Annotated[float, Field(ge=0, lt=1)] | None = None
    max_turnover: Annotated[float, Field(gt=0, le=2)] | None = None
    rebalance_frequency: Literal["daily", "weekly", "monthly"] | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class FillLine(BaseModel):
    """One ticket line as the executor would type it on the confirmation page."""

    model_config = ConfigDict(extra="forbid")

    line_no: Annotated[int, Field(ge=1, le=1000)]
    status: Literal["executed", "partial", "not_executed"]
    units: Annotated[str, Field(max_length=40, description="shares, e.g. 2.856961 (executed/partial)")] = ""
    price: Annotated[str, Field(max_length=40, description="average fill price, e.g. 228.70")] = ""
    fees: Annotated[str, Field(max_length=40)] = ""
    time: Annotated[str, Field(max_length=8, description="HH:MM, 24-hour UK time on the ticket's session")] = ""
    reason: Annotated[str, Field(max_length=500, description="why not executed (not_executed)")] = ""
    notes: Annotated[str, Field(max_length=500)] = ""
    explanation: Annotated[str, Field(max_length=500, description="why a value outside the band is right (recorded)")] = ""


def _tool(fn: Callable) -> Callable:
    """A tool body: the package's own refusals become tool errors with their message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TradeopsError as err:
            raise ToolError(str(err)) from err

    return wrapper


def client_name(ctx: Context | None) -> str:
    """The connecting client's name as it introduced itself (``clientInfo.name``)."""
    try:
        params = ctx.session.client_params if ctx is not None else None
    except (AttributeError, ValueError):
        params = None
    info = getattr(params, "client_info", None)
    name = (getattr(info, "name", None) or "unknown-client").strip()
    return "".join(ch for ch in name if ch.isprintable())[:60] or "unknown-client"


def build_server(toolbox: Toolbox, *, allow_fills: bool = False) -> MCPServer:
    """The MCP server over ``toolbox``; ``write_fills`` exists only with ``allow_fills``."""
    tb = toolbox
    server = MCPServer(
        NAME,
        title="tradeops",
        instructions=(
            "Read-only tools over one tradeops workspace: market data (clean parquet), the ledger, research on the "
            "clean data, a what-if of the risk guard, and the 'why' of archived tickets. No tool issues or edits a "
            "ticket, changes the policy or the kill switch, or places an order."
            + (" write_fills records the executor's fills exactly as the confirmation page does." if allow_fills else "")
        ),
    )
    ro = dict(annotations=READ_ONLY)

    # ---------------------------------------------------------------- market data
    @server.tool(name="market_prices", **ro)
    @_tool
    def market_prices(symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)], start: date, end: date, page: Page = 1) -> dict:
        """Daily close, adjusted close, volume and total return (from adjusted closes) per symbol and session, from the clean parquet."""
        return tb.prices(symbols, start, end, page)

    @server.tool(name="market_data_quality", **ro)
    @_tool
    def market_data_quality(page: Page = 1) -> dict:
        """The latest data-quality report: whether trading is allowed, the reasons, every check, the excluded symbols."""
        return tb.data_quality(page)

    # ---------------------------------------------------------------- ledger (read-only)
    @server.tool(name="ledger_status", **ro)
    @_tool
    def ledger_status() -> dict:
        """Cash, positions (units), kill switch, operating state, last broker snapshot and unconfirmed ticket lines."""
        return tb.ledger_status()

    @server.tool(name="ledger_pnl", **ro)
    @_tool
    def ledger_pnl(as_of: date | None = None) -> dict:
        """Realized (FIFO) and unrealized P&L with dividends, interest, FX and fees, marked at a session's close (default: the latest)."""
        return tb.pnl(as_of)

    @server.tool(name="ledger_equity_curve", **ro)
    @_tool
    def ledger_equity_curve(start: date | None = None, end: date | None = None, page: Page = 1) -> dict:
        """Equity at each session's close (cash + units x close, deposits shown as flows) and the drawdown since the last resume."""
        return tb.equity_curve(start, end, page)

    @server.tool(name="ledger_ticket", **ro)
    @_tool
    def ledger_ticket(ticket_id: TicketId | None = None) -> dict:
        """A ticket (default: the latest) with its lines, price bands and the fill recorded for each line."""
        return tb.ticket(ticket_id)

    @server.tool(name="ledger_reconciliation", **ro)
    @_tool
    def ledger_reconciliation() -> dict:
        """The latest broker snapshot against the ledger at its time: differences, tolerances, pass/fail. Records nothing."""
        return tb.reconciliation()

    @server.tool(name="ledger_alerts", **ro)
    @_tool
    def ledger_alerts(page: Page = 1) -> dict:
        """Alerts raised by the runs (missing confirmations, drawdown, data quality, reconciliation, failed runs), newest first."""
        return tb.alerts(page)

    @server.tool(name="ledger_events", **ro)
    @_tool
    def ledger_events(
        kind: Annotated[str, Field(pattern=r"^[A-Z_]{3,40}$", description="e.g. FILL_RECORDED, TICKET_RECORDED, GATE_RESULT")] | None = None, page: Page = 1
    ) -> dict:
        """The ledger's event log (who did what, when), newest first, 50 events a page (a long payload, such as a whole ticket, is left out)."""
        return tb.events(kind, page)

    # ---------------------------------------------------------------- research
    @server.tool(name="research_backtest", **ro)
    @_tool
    def research_backtest(start: date | None = None, end: date | None = None, parameters: Parameters | None = None) -> dict:
        """Replay the live signal and risk guard over the clean data (at most 260 sessions; default: the last 120)
        with optional parameter changes; returns total return, CAGR, Sharpe, max drawdown, the fills count and the path of
        its report (tearsheet, decisions, halts), the one file it writes, under reports/research/."""
        return tb.backtest(start, end, parameters.given() if parameters else {})

    @server.tool(name="research_sweep", **ro)
    @_tool
    def research_sweep(
        parameter: SweepParameter,
        values: Annotated[list[float], Field(min_length=1, max_length=MAX_SWEEP_VALUES)],
        start: date | None = None,
        end: date | None = None,
    ) -> dict:
        """The same backtest for up to 5 values of one parameter (at most 130 sessions; default: the last 60)."""
        cast = float if parameter in ("max_weight", "min_cash_buffer", "max_turnover") else int
        if cast is int and any(v != int(v) for v in values):
            raise ToolError(f"{parameter} takes whole numbers of sessions or positions, got {values}")
        return tb.sweep(parameter, [cast(v) for v in values], start, end)

    @server.tool(name="research_score_universe", **ro)
    @_tool
    def research_score_universe(signal: Signal | None = None, session: date | None = None, top: Annotated[int, Field(ge=1, le=MAX_TOP)] = 25) -> dict:
        """Rank the current universe with a named signal on the clean data up to a session (default: the latest)."""
        return tb.score_universe(signal, session, top)

    # ---------------------------------------------------------------- risk guard
    @server.tool(name="risk_what_if", **ro)
    @_tool
    def risk_what_if(session: date | None = None, rebalance: bool | None = None, parameters: Parameters | None = None) -> dict:
        """Target portfolio and the approved trade list the risk guard gives for the ledger's current book, with every rule's
        result and reason as the ticket shows them. A what-if: it issues no ticket and writes nothing."""
        return tb.risk_what_if(session, rebalance, parameters.given() if parameters else {})

    # ---------------------------------------------------------------- ticketing
    @server.tool(name="ticket_explain", **ro)
    @_tool
    def ticket_explain(ticket_id: TicketId) -> dict:
        """The 'why' of a ticket (signal, ranks, entering/leaving, risk-off, rules) read from the run archive that issued it."""
        return tb.explain_ticket(ticket_id)

    # ---------------------------------------------------------------- the one write
    if allow_fills:

        @server.tool(
            name="write_fills", annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
        )
        def write_fills(ticket_id: TicketId, lines: Annotated[list[FillLine], Field(min_length=1, max_length=100)], ctx: Context) -> dict:
            """Record what happened to some lines of the open ticket, checked exactly as the confirmation page checks them
            (price band, units held, one answer per line; an exception needs an explanation). All or nothing; the event
            log names this client."""
            actor = ACTOR_PREFIX + client_name(ctx)
            try:
                return tb.write_fills(ticket_id, [ln.model_dump() for ln in lines], actor)
            except TradeopsError as err:
                raise ToolError(str(err)) from err

    return server


# --------------------------------------------------------------------------- streamable HTTP


def check_http(host: str, token: str | None) -> None:
    """Like the dashboard: loopback only, and a token of at least 16 characters."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise TradeopsError(f"--host {host}: the MCP server listens on 127.0.0.1 (or localhost) only")
    if not token or len(token) < MIN_TOKEN:
        raise TradeopsError(f"streamable HTTP needs ${TOKEN_ENV}: a secret of at least {MIN_TOKEN} characters")


class BearerToken:
    """ASGI middleware: every request needs ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not (given.startswith(b"Bearer ") and hmac.compare_digest(given[7:], self.token)):
                await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
                return
        await self.app(scope, receive, send)


def serve_http(server: MCPServer, host: str, port: int, token: str) -> None:
    """Streamable HTTP at http://host:port/mcp behind the bearer token."""
    import uvicorn

    check_http(host, token)
    app = BearerToken(server.streamable_http_app(host=host), token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
