"""One exception root for the whole package.

Every error raised on purpose by tradeops derives from :class:`TradeopsError`
and says which value was wrong and which bound it broke.  Gates and risk
rules do *not* raise: they return reasons as data, and the stage boundary
turns failed reasons into a NO-TRADE decision.
"""


class TradeopsError(Exception):
    """Root of every error tradeops raises on purpose."""


class ConfigError(TradeopsError):
    """policy.yml or universe.csv is invalid (the message names the key)."""


class CalendarError(TradeopsError):
    """A date is not what the exchange calendar allows."""


class DataError(TradeopsError):
    """Market data could not be fetched, parsed or cleaned."""


class VendorError(DataError):
    """A vendor answered with an error payload instead of data."""


class ProviderUnavailable(DataError):
    """A provider could not be reached or kept failing after retries."""


class RateLimited(ProviderUnavailable):
    """A provider refused for a rate or daily limit: asking again today is pointless (trips the breaker at once)."""


class SymbolNotFound(VendorError):
    """A permanent answer for one symbol: unknown, misspelt or delisted (a finding, never retried)."""


class MissingApiKey(VendorError):
    """The provider wants an API key (the message names the environment variable to set)."""


class LedgerError(TradeopsError):
    """A ledger write was refused (the message names the row and field)."""


class ValidationError(TradeopsError):
    """User input (fills, snapshots, cash) failed validation; nothing was written."""


class ConformanceError(TradeopsError):
    """The live path and the backtest decided differently (the message names the session and symbols)."""
