"""Use cases. Each public function is one unit of work: it opens a transaction, calls
repositories and the pure core, and returns a value or raises a ``TwostepError``."""

__all__: list[str] = []
