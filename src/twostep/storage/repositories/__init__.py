"""The only SQL in Twostep. Repositories take the unit of work's connection and never commit;
races are settled by conditional statements whose row counts the callers check."""

__all__: list[str] = []
