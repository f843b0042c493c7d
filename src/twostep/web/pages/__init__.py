"""Hosted HTML pages: they render the steps of the journey engine and work without JavaScript."""

__all__: list[str] = []
