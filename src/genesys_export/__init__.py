"""genesys-export: Genesys Cloud analytics exports into your own BI stack.

from genesys_export import Exporter

exporter = Exporter.from_env()
result = exporter.export_conversations("2024-05-01/2024-05-08", dest="duckdb:///w.duckdb")
"""

from genesys_export.config import DEFAULT_DEST, Credentials, Secret, Settings
from genesys_export.errors import GenesysExportError
from genesys_export.exporter import Exporter, ExportResult
from genesys_export.regions import REGIONS, Region, resolve_region

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DEST",
    "REGIONS",
    "Credentials",
    "ExportResult",
    "Exporter",
    "GenesysExportError",
    "Region",
    "Secret",
    "Settings",
    "__version__",
    "resolve_region",
]
