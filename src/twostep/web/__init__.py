"""The HTTP edge: JSON API, operations endpoints, and (later) hosted pages."""

__all__: list[str] = []
