"""JSON routers of the management API (spec section 5)."""
