"""Reconciliation: the landed details against Genesys' own aggregates, cell by cell."""
