"""PostgreSQL full-text search: stemming, stop words and ranking, with no extra server."""

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

from .database import DatabaseSearchBackend

WEIGHTS = "ABCD"


def search_vector(document):
    """The document's fields as one weighted tsvector.

    Keep it identical to the expression of the GIN index in the model's
    migration (articles 0002), or PostgreSQL cannot use the index.
    """
    vectors = [
        SearchVector(field, weight=WEIGHTS[min(i, 3)], config=document.language)
        for i, field in enumerate(document.fields)
    ]
    combined = vectors[0]
    for vector in vectors[1:]:
        combined += vector
    return combined


class PostgresSearchBackend(DatabaseSearchBackend):
    """Web-search syntax ("quoted phrases", -excluded, or), ranked by ts_rank."""

    name = "postgresql"

    def parse(self, query):
        return query.strip()

    def matching(self, document, query):
        vector = search_vector(document)
        tsquery = SearchQuery(query, search_type="websearch", config=document.language)
        return (
            document.get_queryset()
            .annotate(search_vector=vector)
            .filter(search_vector=tsquery)
            .annotate(search_score=SearchRank(vector, tsquery))
        )
