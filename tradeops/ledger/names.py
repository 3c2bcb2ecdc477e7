"""Names the ledger and its command line share, in a module that imports nothing
(so ``tradeops confirm --help`` need not load SQLAlchemy to show its defaults)."""

DEFAULT_ACCOUNT = "main"
CASH_KINDS = ("DEPOSIT", "WITHDRAWAL", "DIVIDEND", "FEE", "INTEREST", "FX")
