"""The step classes, by type name: one small module per family, found as they are.

Every module of this package is imported and every `Step` subclass that declares its own
``spec`` is a step type, so a new type is its module (and, if client-facing, its template).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from twostep.journeys.kinds import PageSpec, StepKind
from twostep.journeys.steps.base import Step

__all__ = ["KINDS", "PAGES", "REGISTRY", "Step"]


def _subclasses(cls: type[Step]) -> Iterator[type[Step]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _discover() -> Mapping[str, type[Step]]:
    """Import every module of the package, then collect the step classes they declare."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found: dict[str, type[Step]] = {}
    for cls in _subclasses(Step):
        if "spec" not in cls.__dict__ or not cls.__module__.startswith(f"{__name__}."):
            continue
        if cls.kind in found:
            raise RuntimeError(f"two step classes of type {cls.kind!r}")
        found[cls.kind] = cls
    return MappingProxyType(found)


REGISTRY: Mapping[str, type[Step]] = _discover()

KINDS: Mapping[str, StepKind] = MappingProxyType({name: cls.spec for name, cls in REGISTRY.items()})
"""The catalogue a definition is checked against: each type's config model and edge rules."""

PAGES: Mapping[str, PageSpec] = MappingProxyType(
    {kind.step_id: kind.page for kind in KINDS.values() if kind.step_id and kind.page}
)
"""The hosted page of each client-facing step, by step id (the template's name)."""
