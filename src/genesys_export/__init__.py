"""genesys-export: Genesys Cloud analytics exports into your own BI stack."""

__version__ = "0.1.0"
