"""The admin console at /admin (placeholder: being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["admin console"], include_in_schema=False)
