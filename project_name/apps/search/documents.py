"""What a searchable model declares; see articles/search.py for one."""


class SearchDocument:
    """How one model is searched, by every backend.

    Subclasses set ``name`` (the hits' ``type`` and the index name's last part),
    ``model`` and ``fields``, and say in ``to_source`` what an index stores.
    """

    name = ""
    model = None
    # Text fields searched, most important first: each ranks above the next.
    fields = ()
    # The field shown as a hit's title.
    title_field = "title"
    # PostgreSQL's text search configuration and Elasticsearch's analyzer.
    language = "english"

    def get_queryset(self):
        return self.model._default_manager.all()

    def to_source(self, obj):
        """The JSON document an index stores for ``obj``."""
        return {field: getattr(obj, field) for field in self.fields}

    def get_mapping(self):
        """Elasticsearch's mapping for the index."""
        text = dict(type="text", analyzer=self.language)
        return dict(properties={field: text for field in self.fields})

    def hit(self, pk, title, score):
        """One search result, in the shape every backend returns."""
        return {"type": self.name, "id": pk, "title": title, "score": score}
