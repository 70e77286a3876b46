"""Routers, one per concern, each built by a factory (a Router can belong to one
dispatcher only, so module-level routers would break a second dispatcher)."""
