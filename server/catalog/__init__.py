"""fal's own model catalogue (schemas, trainer → inference pairing, unit prices) as the server's source of truth."""

from server.catalog.service import Catalog, CatalogEntry, RefreshReport, UnitPrice

__all__ = ["Catalog", "CatalogEntry", "RefreshReport", "UnitPrice"]
