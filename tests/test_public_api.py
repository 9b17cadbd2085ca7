import genesys_export


def test_public_api_is_pinned() -> None:
    """What `from genesys_export import *` gives is a deliberate, reviewed list."""
    assert sorted(genesys_export.__all__) == [
        "Credentials",
        "DEFAULT_DEST",
        "ExportResult",
        "Exporter",
        "GenesysExportError",
        "REGIONS",
        "Region",
        "Secret",
        "Settings",
        "__version__",
        "resolve_region",
    ]
    for name in genesys_export.__all__:
        assert hasattr(genesys_export, name)
