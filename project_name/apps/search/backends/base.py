"""What every search backend offers; the API and the sync task use only this."""

from dataclasses import dataclass, field


class TransientSearchError(Exception):
    """The search service failed in a way worth retrying (unreachable, overloaded)."""


class SearchIndexError(Exception):
    """The indexes are not as an operation needs them; the message says what to run."""


class MissingIndexError(SearchIndexError):
    """A searchable model has no index yet: ``./manage create_indexes`` makes it."""


@dataclass
class SearchResults:
    backend: str
    count: int
    results: list = field(default_factory=list)


class SearchBackend:
    name = ""
    # True when the backend searches an index of its own that saves and
    # deletes must be copied to; False when it queries the tables directly.
    keeps_index = False

    def search(self, query, documents, *, limit, offset=0):
        """Hits for ``query`` in ``documents``, best first, as SearchResults."""
        raise NotImplementedError

    def update(self, document, objects):
        """Store ``objects`` in the index of ``document``."""

    def remove(self, document, pks):
        """Drop the rows ``pks`` from the index of ``document``."""

    def create_indexes(self, documents):
        """Create missing indexes; return one line for each document saying what was done."""
        return [f"{self.name}: no index to create for {d.name}" for d in documents]

    def rebuild_indexes(self, documents):
        """Index every row again; return one line for each document saying what was done."""
        return [f"{self.name}: no index to rebuild for {d.name}" for d in documents]

    def check(self, documents):
        """Raise if searching would fail; /health/ times this."""
        raise NotImplementedError
