"""Policy (config/policy.yml) and universe (config/universe.csv), validated on load.

The policy is parsed into frozen pydantic models: unknown keys, wrong types
and out-of-range values raise :class:`~tradeops.errors.ConfigError` with the
dotted key, the offending value and the allowed range.  ``policy_hash`` and
``file_sha256`` give the hashes the run manifest records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError


from .instruments import canonical_symbol, Instrument, INSTRUMENT_TYPES, load_universe, parse_universe, Universe, UNIVERSE_COLUMNS, universe_csv  # noqa: F401  (re-exported)


def _number_to_decimal(v: object) -> object:
    """Money values: a YAML int or float (or a Decimal) becomes a Decimal; a string or bool is refused."""
    if isinstance(v, bool) or isinstance(v, str):
        raise ValueError(f"must be a number, not {type(v).__name__} {v!r} (write it without quotes)")
    if isinstance(v, (int, float)):
        return Decimal(str(v))
    return v


Amount = Annotated[Decimal, BeforeValidator(_number_to_decimal)]
SOURCES = ("yfinance", "stooq", "alphavantage", "demo")  # data providers (tradeops.data.providers)
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Sessions = Annotated[int, Field(ge=1, le=5000)]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Factor = Literal["mom_1w", "mom_4w", "mom_12w", "volatility", "liquidity", "reversal"]
DEFAULT_WEIGHTS: dict[Factor, float] = {"mom_1w": 0.1, "mom_4w": 0.3, "mom_12w": 0.4, "volatility": 0.1, "liquidity": 0.1, "reversal": 0.0}


class _Model(BaseModel):
    # strict: "300" is not an int and "no" is not a bool (a quoted YAML value is refused, naming the key);
    # an int is still a float, and YAML lists are accepted for tuples (Field(strict=False) there).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Schedule(_Model):
    run_time: str = "07:30"
    timezone: str = "Europe/London"
    run_days: Annotated[tuple[Weekday, ...], Field(strict=False)] = WEEKDAYS[:5]
    exchange: str = "XNYS"

    @field_validator("run_time")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        try:
            time.fromisoformat(v)
        except ValueError:
            raise ValueError(f"must be HH:MM (00:00..23:59), got {v!r}") from None
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"must be an IANA time zone such as Europe/London, got {v!r}") from None
        return v

    @property
    def run_clock(self) -> time:
        return time.fromisoformat(self.run_time)


class Rebalance(_Model):
    frequency: Literal["daily", "weekly", "monthly"] = "weekly"


class MomentumParams(_Model):
    lookback_1w: Sessions = 5
    lookback_4w: Sessions = 20
    lookback_12w: Sessions = 60
    volatility_window: Annotated[int, Field(ge=2, le=5000)] = 60
    volume_window: Sessions = 20
    reversal_window: Sessions = 5
    weights: dict[Factor, Annotated[float, Field(ge=-10, le=10)]] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


class RotationParams(_Model):
    assets: Annotated[tuple[str, ...], Field(strict=False)] = ("SPY", "QQQ")
    lookback_months: Annotated[int, Field(ge=1, le=24)] = 6
    defensive_asset: str | None = None


class Strategy(_Model):
    signal: Literal["momentum", "rotation", "qlib_lgbm"] = "momentum"
    momentum: MomentumParams = MomentumParams()
    rotation: RotationParams = RotationParams()


class Portfolio(_Model):
    long_only: Literal[True] = True
    instrument: Literal["underlying"] = "underlying"
    leverage: Annotated[float, Field(ge=1.0, le=1.0)] = 1.0
    risk_off_to_cash: bool = True
    risk_off_ma_sessions: Annotated[int, Field(ge=2, le=1000)] = 200
    risk_off_cash_fraction: Fraction = 1.0
    target_positions: Annotated[int, Field(ge=1, le=100)] = 15
    min_positions: Annotated[int, Field(ge=1, le=100)] = 10
    max_positions: Annotated[int, Field(ge=1, le=100)] = 20
    max_weight: Annotated[float, Field(gt=0.0, le=1.0)] = 0.10
    min_cash_buffer: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.02
    max_turnover: Annotated[float, Field(gt=0.0, le=2.0)] = 0.50
    min_order_value: Annotated[Amount, Field(ge=0, le=1_000_000)] = Decimal("25")
    tiny_delta_value: Annotated[Amount, Field(ge=0, le=1_000_000)] = Decimal("25")
    tiny_delta_weight: Annotated[float, Field(ge=0.0, le=0.5)] = 0.005
    fractional_units: bool = True
    reinvest: Literal["all"] = "all"
    no_buy: Annotated[tuple[str, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _positions_order(self) -> "Portfolio":
        if not self.min_positions <= self.target_positions <= self.max_positions:
            raise ValueError(
                "portfolio.target_positions must lie in [min_positions, max_positions]: "
                f"got min={self.min_positions}, target={self.target_positions}, max={self.max_positions}"
            )
        return self


class Risk(_Model):
    kill_switch_drawdown: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.20
    drawdown_warning: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.10
    price_band: Annotated[float, Field(gt=0.0, le=0.5)] = 0.03

    @model_validator(mode="after")
    def _warning_below_kill(self) -> "Risk":
        if self.drawdown_warning >= self.kill_switch_drawdown:
            raise ValueError(f"risk.drawdown_warning ({self.drawdown_warning}) must be below risk.kill_switch_drawdown ({self.kill_switch_drawdown})")
        return self


class Execution(_Model):
    window_start_minutes: Annotated[int, Field(ge=0, le=390)] = 5
    window_end_minutes: Annotated[int, Field(ge=1, le=390)] = 60
    order_type: Literal["market", "limit"] = "market"

    @model_validator(mode="after")
    def _window(self) -> "Execution":
        if self.window_end_minutes <= self.window_start_minutes:
            raise ValueError(
                f"execution.window_end_minutes ({self.window_end_minutes}) must be after execution.window_start_minutes ({self.window_start_minutes})"
            )
        return self


class AccountSettings(_Model):
    broker: str = "eToro"
    # USD: the instruments' own currency, no conversion.  GBP: sized in pounds at the day's GBPUSD rate
    # (tradeops.data.fx), every trade of a USD instrument paying the broker's conversion fee fx_fee_bps.
    account_currency: Literal["USD", "GBP"] = "USD"
    reporting_currency: Literal["USD", "GBP", "EUR"] = "GBP"
    starting_cash: Annotated[Amount, Field(ge=0, le=1_000_000_000)] = Decimal("10000")
    fx_fee_bps: Annotated[Amount, Field(ge=0, le=500)] = Decimal("0")  # of the converted amount; a USD account never converts
    # the ledger refuses a fill, correction, withdrawal or fee that would take cash below this (account currency)
    cash_floor: Annotated[Amount, Field(ge=0, le=1_000_000_000)] = Decimal("0")


class UniverseRef(_Model):
    file: str = "universe.csv"
    benchmark: str = "SPY"


class LocalFile(_Model):
    """A vendor file on disk used for one symbol instead of asking a provider (e.g. a Stooq export of SPY)."""

    source: Literal["yfinance", "stooq", "alphavantage"]  # the file's format: picks the parser
    path: str  # relative to the workspace root, or absolute


class DataCfg(_Model):
    primary: Literal["yfinance", "stooq", "alphavantage", "demo"] = "yfinance"
    secondary: Literal["yfinance", "stooq", "alphavantage", "demo"] | None = "stooq"
    history_sessions: Annotated[int, Field(ge=20, le=10000)] = 300
    demo_seed: Annotated[int, Field(ge=0)] = 42
    alphavantage_dir: str | None = None
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_seconds: Annotated[float, Field(ge=0.0, le=60.0)] = 1.0
    backoff_max_seconds: Annotated[float, Field(ge=0.0, le=600.0)] = 10.0
    backoff_jitter_seconds: Annotated[float, Field(ge=0.0, le=60.0)] = 0.5
    min_request_interval_seconds: Annotated[float, Field(ge=0.0, le=60.0)] = 0.5
    request_timeout_seconds: Annotated[float, Field(gt=0.0, le=600.0)] = 30.0
    yfinance_cache_hours: Annotated[float, Field(ge=0.0, le=24 * 30)] = 12.0
    cross_check: bool = True
    overlap_sessions: Annotated[int, Field(ge=1, le=250)] = 5
    local_files: dict[str, LocalFile] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _distinct(self) -> "DataCfg":
        if self.secondary == self.primary:
            raise ValueError(f"data.secondary must differ from data.primary (both {self.primary!r})")
        return self


class Quality(_Model):
    min_coverage: Fraction = 0.98
    max_duplicate_dates: Annotated[int, Field(ge=0, le=1000)] = 0
    max_unexplained_jump: Annotated[float, Field(gt=0.0, le=10.0)] = 0.45
    max_split_adjusted_move: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25
    max_zero_volume_sessions: Annotated[int, Field(ge=0, le=10000)] = 3
    max_missing_sessions: Annotated[int, Field(ge=0, le=10000)] = 5
    max_source_disagreement: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    benchmark_max_age_sessions: Annotated[int, Field(ge=0, le=10)] = 0
    max_symbol_age_sessions: Annotated[int, Field(ge=0, le=10)] = 0
    window_sessions: Annotated[int, Field(ge=20, le=10000)] = 250
    copy_forward_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    max_identical_bars: Annotated[int, Field(ge=2, le=1000)] = 3
    max_factor_step: Annotated[float, Field(gt=0.0, le=10.0)] = 0.10
    min_cross_check_share: Fraction = 0.9
    cross_check_required: bool = False
    corrections_file: str = "corrections.csv"
    # the account-currency FX rate (GBPUSD for a GBP account; tradeops.data.fx), a gate of its own
    fx_max_staleness_sessions: Annotated[int, Field(ge=0, le=10)] = 0  # 0: a rate for the decision session (T-1) itself
    fx_max_jump: Annotated[float, Field(gt=0.0, le=1.0)] = 0.10  # |log change| of the rate used vs the rate before it
    fx_min_rate: Annotated[float, Field(gt=0.0, le=1000.0)] = 0.5  # plausible GBPUSD: a rate 10x off (12.7, 0.127) is refused
    fx_max_rate: Annotated[float, Field(gt=0.0, le=1000.0)] = 3.0

    @model_validator(mode="after")
    def _fx_band(self) -> "Quality":
        if self.fx_min_rate >= self.fx_max_rate:
            raise ValueError(f"quality.fx_min_rate ({self.fx_min_rate}) must be below quality.fx_max_rate ({self.fx_max_rate})")
        return self


class Reconciliation(_Model):
    cash_tolerance: Annotated[Amount, Field(ge=0, le=1_000_000)] = Decimal("5.00")
    units_tolerance: Annotated[Amount, Field(ge=0, le=1_000_000)] = Decimal("0.0001")
    max_snapshot_age_days: Annotated[int, Field(ge=0, le=365)] = 7


class Confirmations(_Model):
    deadline_minutes_after_window: Annotated[int, Field(ge=0, le=24 * 60)] = 240


class Research(_Model):
    """Qlib/LightGBM research settings (also used by the qlib_lgbm live signal)."""

    lgbm_threads: Annotated[int, Field(ge=1, le=64)] = 1
    train_sessions: Annotated[int, Field(ge=60, le=5000)] = 750
    purge_sessions: Annotated[int, Field(ge=0, le=250)] = 5
    label_horizon: Annotated[int, Field(ge=1, le=60)] = 5
    retrain_every: Annotated[int, Field(ge=1, le=500)] = 20
    num_boost_round: Annotated[int, Field(ge=10, le=5000)] = 200
    num_leaves: Annotated[int, Field(ge=2, le=1024)] = 31
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    cost_bps: Annotated[float, Field(ge=0.0, le=500.0)] = 10.0
    slippage_bps: Annotated[float, Field(ge=0.0, le=500.0)] = 5.0
    # The drawdown halt in a backtest: live, only `tradeops resume --reason` leaves HALT; a study
    # has to assume when that decision would have been taken, and its report lists every halt.
    halt_resume: Literal["sessions", "benchmark_ma"] = "benchmark_ma"
    halt_resume_sessions: Annotated[int, Field(ge=1, le=2520)] = 20


class Promotion(_Model):
    """What a candidate model must show before the live qlib_lgbm signal may use it."""

    max_pbo: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    min_trials: Annotated[int, Field(ge=2, le=1000)] = 16
    min_dsr: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.95
    min_oos_sharpe: Annotated[float, Field(ge=-5.0, le=10.0)] = 0.5  # annualised, on the hold-out
    max_oos_drawdown: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25  # on the hold-out
    holdout_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.3  # the last share of the sessions


class DriftPolicy(_Model):
    """Live vs shadow drift (tradeops.drift): what counts as late, and when the weekly report alerts."""

    late_after_minutes: Annotated[int, Field(ge=0, le=390)] = 30  # a fill this long after the window's start is late
    max_residual_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.001  # |residual| / equity
    max_component_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.02  # |any component| / equity
    erosion_weeks: Annotated[int, Field(ge=2, le=26)] = 4  # slippage, turnover or unfilled share worse this many weeks running


class Policy(_Model):
    schedule: Schedule = Schedule()
    rebalance: Rebalance = Rebalance()
    strategy: Strategy = Strategy()
    portfolio: Portfolio = Portfolio()
    risk: Risk = Risk()
    execution: Execution = Execution()
    account: AccountSettings = AccountSettings()
    universe: UniverseRef = UniverseRef()
    data: DataCfg = DataCfg()
    quality: Quality = Quality()
    reconciliation: Reconciliation = Reconciliation()
    confirmations: Confirmations = Confirmations()
    research: Research = Research()
    promotion: Promotion = Promotion()
    drift: DriftPolicy = DriftPolicy()

    def hash(self) -> str:
        """sha256 of the canonical JSON form: equal policies hash equal.  The drift section (reporting
        thresholds only) is left out while it has its defaults, so older policies keep their hash."""
        data = self.model_dump(mode="json")
        if self.drift == DriftPolicy():
            data.pop("drift")
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _format_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<policy>"
        val = e.get("input")
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see config/policy.yml for the allowed keys)"
        ctx = e.get("ctx") or {}
        bounds = ", ".join(f"{k} {ctx[k]}" for k in ("ge", "gt", "le", "lt") if k in ctx)
        shown = "" if isinstance(val, dict) else f" (got {val!r})"
        lines.append(f"policy key '{key}': {msg}{shown}" + (f" [allowed: {bounds}]" if bounds else ""))
    return "; ".join(lines)


def parse_policy(data: dict | None) -> Policy:
    """Validate a policy mapping; raise ConfigError naming every bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"policy must be a mapping of sections, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def policy_yaml_data(policy: Policy) -> dict:
    """``policy`` as plain YAML values that :func:`parse_policy` accepts again: exact money as
    numbers (not the strings of a JSON dump, which the strict types refuse), times as "HH:MM"."""
    from datetime import date as _date, time as _time
    from decimal import Decimal as _Decimal
    from enum import Enum

    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, _Decimal):
            return int(v) if v.as_tuple().exponent >= 0 else float(v)
        if isinstance(v, _time):
            return v.strftime("%H:%M")
        if isinstance(v, _date):
            return v.isoformat()
        if isinstance(v, Enum):
            return v.value
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(policy.model_dump())


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"policy file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"policy file {path} is not valid YAML: {err}") from None
    return parse_policy(raw)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- workspace


@dataclass(frozen=True)
class Workspace:
    """Where a workspace keeps its files.  Every path derives from ``root``
    so tests and the demo use their own folders."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> "Workspace":
        return cls(Path(root).resolve())

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def policy_path(self) -> Path:
        return self.config_dir / "policy.yml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def clean_dir(self) -> Path:
        """Clean snapshots (``snapshots/<sha256[:16]>/``), the ``current.json`` pointer and the latest build's report."""
        return self.data_dir / "clean"

    @property
    def clean_pointer(self) -> Path:
        return self.clean_dir / "current.json"

    @property
    def clean_path(self) -> Path:
        """The parquet of the ``current`` clean snapshot (the last build that passed the data-quality gate).

        Before the first snapshot this is the legacy ``data/clean/eod.parquet``.
        """
        try:
            pointer = json.loads(self.clean_pointer.read_text())
            return self.clean_dir / pointer["path"]
        except FileNotFoundError:
            return self.clean_dir / "eod.parquet"
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{self.clean_pointer} is not a valid snapshot pointer ({type(err).__name__}: {err})") from None

    @property
    def quality_dir(self) -> Path:
        """Where the latest build's quality.json/.md are (passed or not)."""
        return self.clean_dir

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def models_dir(self) -> Path:
        """The model registry: promotion verdicts (``<model_id>/verdict.json``) and ``current.json``."""
        return self.data_dir / "models"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def tickets_dir(self) -> Path:
        return self.root / "tickets"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def default_db_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'ledger.sqlite'}"

    def db_url(self) -> str:
        """TRADEOPS_DB_URL from the environment, else the workspace's SQLite file."""
        import os

        return os.environ.get("TRADEOPS_DB_URL") or self.default_db_url

    def policy(self) -> Policy:
        return load_policy(self.policy_path)

    def universe(self, policy: Policy | None = None) -> Universe:
        policy = policy or self.policy()
        return load_universe(self.config_dir / policy.universe.file, policy.universe.benchmark)

    def ensure(self) -> "Workspace":
        for d in (self.config_dir, self.raw_dir, self.clean_dir, self.runs_dir, self.tickets_dir, self.reports_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
