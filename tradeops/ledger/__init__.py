"""The ledger: the single source of truth for what the account holds.

- ``db``: engines, transactions and migrations for a database URL;
- ``models``: the tables; ``types``: exact Decimal and UTC columns;
- ``api``: every read and write (record_*, compute_*, reconcile_snapshot);
- ``gates``: the pipeline's ledger gates, returning :class:`tradeops.checks.Gate`;
- ``inputs``: parsing of fills, snapshots and cash typed by people;
- ``fifo``: FIFO lots (pure); ``money``: Decimal rules and Money;
- ``backup``: backup and restore.

The comparison of a broker snapshot with the ledger is pure and lives in
``tradeops.reconcile``; the commands are in ``tradeops.cli.ledger``.
"""
