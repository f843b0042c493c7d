"""Journeys (spec 6): definitions as validated JSON data, expressions, and the step catalogue."""

__all__: list[str] = []
