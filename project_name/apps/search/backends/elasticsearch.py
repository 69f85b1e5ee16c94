"""Elasticsearch: an index per searchable model, behind an alias so rebuilds swap atomically.

Each model's index is reached through the alias ``<prefix>-<document name>``;
the index itself carries a timestamp. ``rebuild_indexes`` fills a new index
while the old one keeps serving, then moves the alias in one request.
"""

import contextlib

from django.utils import timezone
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.helpers import BulkIndexError, bulk

from .base import SearchBackend, SearchResults, TransientSearchError

# Statuses that mean "try again later": throttled, or a node not ready.
TRANSIENT_STATUSES = {429, 502, 503, 504}
INDEX_SETTINGS = {"number_of_shards": 1}
BULK_CHUNK = 500


@contextlib.contextmanager
def transient_errors():
    """Turn the client's retryable failures into TransientSearchError."""
    try:
        yield
    except TransportError as exc:
        # Raised before any answer came back: refused, reset or timed out.
        raise TransientSearchError(f"Elasticsearch did not answer: {exc}") from exc
    except ApiError as exc:
        if exc.status_code in TRANSIENT_STATUSES:
            raise TransientSearchError(f"Elasticsearch answered {exc.status_code}") from exc
        raise
    except BulkIndexError as exc:
        failures = [next(iter(item.values())) for item in exc.errors]
        refused = f"Elasticsearch refused {len(failures)} writes"
        if {failure.get("status") for failure in failures} <= TRANSIENT_STATUSES:
            raise TransientSearchError(refused) from exc
        first = failures[0].get("error", {})
        hint = ""
        if first.get("type") == "index_not_found_exception":
            hint = "; run ./manage create_indexes"
        raise RuntimeError(
            f"{refused}, the first with {first.get('type')}: {first.get('reason')}{hint}"
        ) from exc


class ElasticsearchBackend(SearchBackend):
    """Full-text search in Elasticsearch at ``url``; indexes are named ``<prefix>-<name>``."""

    name = "elasticsearch"
    keeps_index = True

    def __init__(self, url, index_prefix, timeout=5):
        self.index_prefix = index_prefix
        # No retries in the client: the sync task retries with backoff, and a
        # search request should fail fast rather than keep its user waiting.
        self.client = Elasticsearch(url, request_timeout=timeout, max_retries=0)

    def alias(self, document):
        return f"{self.index_prefix}-{document.name}"

    def search(self, query, documents, *, limit, offset=0):
        if not query.strip():
            return SearchResults(self.name, 0, [])
        by_alias = {self.alias(d): d for d in documents}
        with transient_errors():
            response = self.client.search(
                index=",".join(by_alias),
                query={"bool": {"should": [self.query(d, query) for d in documents]}},
                source=sorted({d.title_field for d in documents}),
                from_=offset,
                size=limit,
                track_total_hits=True,
            )
        results = []
        for hit in response["hits"]["hits"]:
            document = self.document_of(hit["_index"], by_alias)
            pk = document.model._meta.pk.to_python(hit["_id"])
            results.append(document.hit(pk, hit["_source"][document.title_field], hit["_score"]))
        return SearchResults(self.name, response["hits"]["total"]["value"], results)

    def query(self, document, query):
        """Every word somewhere in the document's fields; earlier fields weigh more."""
        boosted = [f"{f}^{len(document.fields) - i}" for i, f in enumerate(document.fields)]
        match = {"query": query, "fields": boosted, "type": "cross_fields", "operator": "and"}
        # Limited to the document's own index, where fields of the same name may
        # hold something else in another model's index.
        own_index = {"prefix": {"_index": f"{self.alias(document)}-"}}
        return {"bool": {"must": {"multi_match": match}, "filter": own_index}}

    @staticmethod
    def document_of(index, by_alias):
        # Hits name the index behind the alias: "<alias>-<timestamp>".
        for alias, document in by_alias.items():
            if index.startswith(f"{alias}-"):
                return document
        raise LookupError(f"a hit from index {index!r} matches no searchable model")

    def update(self, document, objects):
        with transient_errors():
            bulk(
                self.client,
                self.index_actions(self.alias(document), document, objects),
                chunk_size=BULK_CHUNK,
                require_alias=True,
            )

    def remove(self, document, pks):
        actions = [
            {"_op_type": "delete", "_index": self.alias(document), "_id": str(pk)} for pk in pks
        ]
        with transient_errors():
            # Already gone is as good as removed.
            bulk(self.client, actions, ignore_status=(404,))

    @staticmethod
    def index_actions(index, document, objects):
        for obj in objects:
            yield {"_index": index, "_id": str(obj.pk), "_source": document.to_source(obj)}

    def create_indexes(self, documents):
        lines = []
        for document in documents:
            alias = self.alias(document)
            with transient_errors():
                if self.client.indices.exists_alias(name=alias):
                    lines.append(f"{alias}: exists")
                    continue
                index = self.new_index(document)
                self.client.indices.put_alias(index=index, name=alias, is_write_index=True)
            lines.append(f"{alias}: created {index}")
        return lines

    def rebuild_indexes(self, documents):
        lines = []
        for document in documents:
            alias = self.alias(document)
            with transient_errors():
                index = self.new_index(document)
                rows = document.get_queryset().order_by("pk").iterator(chunk_size=2000)
                indexed, _ = bulk(
                    self.client, self.index_actions(index, document, rows), chunk_size=BULK_CHUNK
                )
                old = self.indexes_behind(alias)
                actions = [{"remove": {"index": i, "alias": alias}} for i in old]
                if not old and self.client.indices.exists(index=alias):
                    # No alias, yet something answers to its name: an index
                    # made by hand or by an older version. Replace it in the
                    # same request, so searches never see neither.
                    actions.append({"remove_index": {"index": alias}})
                actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
                self.client.indices.update_aliases(actions=actions)
                for stale in old:
                    self.client.indices.delete(index=stale)
            lines.append(f"{alias}: {indexed} documents in {index}")
        return lines

    def new_index(self, document):
        """Create an empty index for ``document``, named after its alias and the time."""
        index = f"{self.alias(document)}-{timezone.now():%Y%m%d%H%M%S%f}"
        self.client.indices.create(
            index=index, mappings=document.get_mapping(), settings=INDEX_SETTINGS
        )
        return index

    def indexes_behind(self, alias):
        if not self.client.indices.exists_alias(name=alias):
            return []
        return sorted(self.client.indices.get_alias(name=alias).body)

    def check(self, documents):
        with transient_errors():
            health = self.client.cluster.health()
        if health["status"] == "red":
            raise RuntimeError("the Elasticsearch cluster's status is red")
