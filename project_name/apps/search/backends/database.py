"""Search in the database itself, by substring: works on every database Django supports."""

from django.db.models import Case, Q, Value, When

from .base import SearchBackend, SearchResults

# Bounds the SQL a long query string turns into.
MAX_TERMS = 10


class DatabaseSearchBackend(SearchBackend):
    """Rows containing every word of the query; title matches rank first.

    No index and no ranking by language: the fallback for SQLite, so search
    works with no server at all.
    """

    name = "database"

    def search(self, query, documents, *, limit, offset=0):
        criteria = self.parse(query)
        if not criteria:
            return SearchResults(self.name, 0, [])
        candidates, count = [], 0
        for document in documents:
            matches = self.matching(document, criteria)
            count += matches.count()
            rows = matches.order_by("-search_score", "-pk")[: offset + limit]
            candidates += [
                document.hit(row.pk, getattr(row, document.title_field), float(row.search_score))
                for row in rows
            ]
        candidates.sort(key=lambda hit: hit["score"], reverse=True)
        return SearchResults(self.name, count, candidates[offset : offset + limit])

    def parse(self, query):
        """What ``matching`` needs of the query string; empty when nothing to search."""
        return query.split()[:MAX_TERMS]

    def matching(self, document, terms):
        """Rows holding every term in some field, scored by where the terms are."""
        weights = {f: len(document.fields) - i for i, f in enumerate(document.fields)}
        condition = Q()
        score = Value(0)
        for term in terms:
            condition &= Q.create([(f"{f}__icontains", term) for f in weights], connector=Q.OR)
            for name, weight in weights.items():
                score += Case(
                    When(**{f"{name}__icontains": term}, then=Value(weight)),
                    default=Value(0),
                )
        return document.get_queryset().filter(condition).annotate(search_score=score)

    def check(self, documents):
        for document in documents:
            document.get_queryset().exists()
