"""What a searchable model declares; see articles/search.py for one."""


class SearchDocument:
    """How one model is searched, by every backend.

    Subclasses set ``name`` (the hits' ``type`` and the index name's last part),
    ``model`` and ``fields``, and say in ``to_source`` what an index stores.
    The model needs a field every save sets to the time, ``version_field``.
    """

    name = ""
    model = None
    # Text fields searched, most important first: each ranks above the next.
    fields = ()
    # The field shown as a hit's title.
    title_field = "title"
    # PostgreSQL's text search configuration and Elasticsearch's analyzer.
    language = "english"
    # Set on every save (auto_now). Elasticsearch keeps the write of the newest
    # row by it, whatever order writes arrive in, and rebuild_indexes indexes
    # again the rows saved while it ran.
    version_field = "updated_at"

    def get_queryset(self):
        return self.model._default_manager.all()

    def to_source(self, obj):
        """The JSON document an index stores for ``obj``."""
        return {field: getattr(obj, field) for field in self.fields}

    def get_mapping(self):
        """Elasticsearch's mapping for the index: the searched fields as analyzed text."""
        # A dict per field, so a subclass can change one without changing all.
        return dict(
            properties={field: dict(type="text", analyzer=self.language) for field in self.fields}
        )

    def version(self, obj):
        """When ``obj`` was last saved: newer rows have later versions."""
        return getattr(obj, self.version_field)

    def hit(self, pk, title, score):
        """One search result, in the shape every backend returns."""
        return {"type": self.name, "id": pk, "title": title, "score": score}
