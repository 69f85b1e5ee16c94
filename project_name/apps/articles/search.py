"""How articles are searched: the fields, their weights and the index mapping."""

from ..search.documents import SearchDocument
from .models import Article


class ArticleDocument(SearchDocument):
    name = "article"
    model = Article
    # Most important first: a match in the title ranks above one in the body.
    fields = ("title", "body")

    def to_source(self, article):
        return {
            "title": article.title,
            "body": article.body,
            "author": article.author.username,
            "created_at": article.created_at.isoformat(),
        }

    def get_queryset(self):
        return super().get_queryset().select_related("author")

    def get_mapping(self):
        mapping = super().get_mapping()
        properties = mapping["properties"]
        # The whole title too, for sorting and exact matches.
        properties["title"]["fields"] = dict(raw=dict(type="keyword"))
        properties.update(author=dict(type="keyword"), created_at=dict(type="date"))
        return mapping
