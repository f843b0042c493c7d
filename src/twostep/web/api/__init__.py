"""JSON routers of the management API (spec section 5)."""

__all__: list[str] = []
