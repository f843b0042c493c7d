"""Twostep: a self-hosted authentication server built around TOTP (RFC 6238)."""

__all__ = ["__version__"]
__version__ = "0.1.0"
