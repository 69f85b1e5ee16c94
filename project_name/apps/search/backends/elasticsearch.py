"""Elasticsearch: an index per searchable model, behind an alias so rebuilds swap atomically.

Each model's index is reached through the alias ``<prefix>-<document name>``;
the index itself carries a timestamp. ``rebuild_indexes`` fills a new index
while the old one keeps serving, then moves the alias in one request.

Every write carries an external version: the row's ``version_field`` (its last
save) in microseconds, or the time of a delete. Elasticsearch refuses a write
older than what it holds (a 409), which means a newer one got there first.
"""

import contextlib
import itertools
import logging
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError
from elasticsearch.helpers import BulkIndexError, bulk, scan

from .base import (
    MissingIndexError,
    SearchBackend,
    SearchIndexError,
    SearchResults,
    TransientSearchError,
)

logger = logging.getLogger(__name__)

# Statuses that mean "try again later": throttled, or a node not ready.
TRANSIENT_STATUSES = {429, 502, 503, 504}
# A write older than the document's version: a newer write is already there.
VERSION_CONFLICT = 409
INDEX_SETTINGS = {"number_of_shards": 1}
BULK_CHUNK = 500
# An index is named <alias>-<time>, the time in this format: 20 digits.
INDEX_TIME_FORMAT = "%Y%m%d%H%M%S%f"
INDEX_TIME_DIGITS = 20
# rebuild_indexes indexes again the rows saved since it started, less this:
# a transaction that saved a row before then may commit after the rows were
# read, and servers' clocks may be a little apart.
CATCH_UP_MARGIN = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


@contextlib.contextmanager
def missing_index_errors():
    """Turn "no such index" into MissingIndexError, which says what to run."""
    try:
        yield
    except NotFoundError as exc:
        if exc.error != "index_not_found_exception":
            raise
        raise MissingIndexError(f"{exc}; run ./manage create_indexes") from exc


def external_version(moment):
    """``moment`` as an external version: microseconds since the epoch."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def alias_of(index):
    """The alias an index made by ``new_index`` serves: its name without the time."""
    alias, _, stamp = index.rpartition("-")
    if len(stamp) == INDEX_TIME_DIGITS and stamp.isdigit():
        return alias
    # An index that took the alias's own name (see rebuild).
    return index


def chunked(iterable, size):
    """Lists of ``size`` items of ``iterable``, the last one shorter."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


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
        with missing_index_errors(), transient_errors():
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
        # hold something else in another model's index. A term query on _index
        # matches the indexes behind an alias, and only those.
        own_index = {"term": {"_index": self.alias(document)}}
        return {"bool": {"must": {"multi_match": match}, "filter": own_index}}

    @staticmethod
    def document_of(index, by_alias):
        # Hits name the index behind the alias: "<alias>-<time>".
        try:
            return by_alias[alias_of(index)]
        except KeyError:
            raise LookupError(f"a hit from index {index!r} matches no searchable model") from None

    def update(self, document, objects):
        with transient_errors():
            self.write(self.alias(document), document, objects, require_alias=True)

    def remove(self, document, pks):
        # The row is gone as of now: the delete outranks any write of it
        # still on its way, which Elasticsearch then refuses.
        version = external_version(timezone.now())
        actions = [
            {
                "_op_type": "delete",
                "_index": self.alias(document),
                "_id": str(pk),
                "version": version,
                "version_type": "external_gte",
            }
            for pk in pks
        ]
        with transient_errors():
            # Already gone is as good as removed.
            bulk(self.client, actions, ignore_status=(404, VERSION_CONFLICT))

    def write(self, index, document, objects, **options):
        """Index ``objects`` into ``index``; return how many were sent.

        Those refused as older than what the index holds count as done.
        """
        written, refused = bulk(
            self.client,
            self.index_actions(index, document, objects),
            chunk_size=BULK_CHUNK,
            ignore_status=(VERSION_CONFLICT,),
            stats_only=True,
            **options,
        )
        return written + refused

    @staticmethod
    def index_actions(index, document, objects):
        for obj in objects:
            yield {
                "_index": index,
                "_id": str(obj.pk),
                "_source": document.to_source(obj),
                "version": external_version(document.version(obj)),
                # Equal is accepted, so a retried or repeated write succeeds.
                "version_type": "external_gte",
            }

    def create_indexes(self, documents):
        lines = []
        for document in documents:
            alias = self.alias(document)
            with transient_errors():
                if self.client.indices.exists_alias(name=alias):
                    lines.append(f"{alias}: exists")
                    continue
                self.refuse_index_named(alias)
                index = self.new_index(document)
                with self.discarded_on_error(index, alias):
                    self.client.indices.put_alias(index=index, name=alias, is_write_index=True)
            lines.append(f"{alias}: created {index}")
        return lines

    def refuse_index_named(self, alias):
        """Raise if an index took the alias's name: no alias of that name can be made."""
        if self.client.indices.exists(index=alias):
            raise SearchIndexError(
                f"{alias} is an index, not an alias, made by hand or by an older version. "
                "Run ./manage rebuild_indexes to replace it with a new index behind an alias."
            )

    def rebuild_indexes(self, documents):
        lines = []
        for document in documents:
            with transient_errors():
                lines.append(self.rebuild(document))
        return lines

    def rebuild(self, document):
        """Fill a new index, move the alias to it, then catch up with changes made meanwhile."""
        alias = self.alias(document)
        # Until the swap, sync tasks write to the old index through the alias.
        since = timezone.now() - CATCH_UP_MARGIN
        index = self.new_index(document)
        with self.discarded_on_error(index, alias):
            rows = document.get_queryset().order_by("pk").iterator(chunk_size=2000)
            indexed = self.write(index, document, rows)
            # Searchable in full from the swap on, and seen whole by remove_vanished.
            self.client.indices.refresh(index=index)
            old = self.swap(alias, index)
        for stale in old:
            self.client.indices.delete(index=stale)
        changed, removed = self.catch_up(document, since)
        return (
            f"{alias}: {indexed} documents in {index}, then {changed} indexed again "
            f"and {removed} removed for changes made meanwhile"
        )

    def catch_up(self, document, since):
        """Index again the rows saved since ``since``, drop those deleted; return both counts.

        Sync tasks wrote those changes to the old index while the new one was
        filled. Versions keep these writes from undoing newer ones made since.
        """
        saved = document.get_queryset().filter(**{f"{document.version_field}__gte": since})
        alias = self.alias(document)
        changed = self.write(alias, document, saved.iterator(chunk_size=2000), require_alias=True)
        return changed, self.remove_vanished(document)

    def swap(self, alias, index):
        """Point ``alias`` at ``index`` alone, in one request; return the indexes it left."""
        old = self.indexes_behind(alias)
        actions = [{"remove": {"index": i, "alias": alias}} for i in old]
        if not old and self.client.indices.exists(index=alias):
            # No alias, yet something answers to its name: an index made by
            # hand or by an older version. Replace it in the same request, so
            # searches never see neither.
            actions.append({"remove_index": {"index": alias}})
        actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
        self.client.indices.update_aliases(actions=actions)
        return old

    def remove_vanished(self, document):
        """Drop the documents whose rows are gone; return how many.

        A row deleted after the rebuild read it had its delete applied to the
        old index only. Checks every id the index holds against the table.
        """
        pk_field = document.model._meta.pk
        hits = scan(
            self.client,
            index=self.alias(document),
            query={"query": {"match_all": {}}},
            source=False,
            size=BULK_CHUNK,
        )
        removed = 0
        for pks in chunked((pk_field.to_python(hit["_id"]) for hit in hits), BULK_CHUNK):
            kept = set(document.get_queryset().filter(pk__in=pks).values_list("pk", flat=True))
            gone = [pk for pk in pks if pk not in kept]
            if gone:
                self.remove(document, gone)
            removed += len(gone)
        return removed

    @contextlib.contextmanager
    def discarded_on_error(self, index, alias):
        """Delete the new ``index`` if the block fails, unless ``alias`` already serves it."""
        try:
            yield
        except BaseException:
            self.discard(index, alias)
            raise

    def discard(self, index, alias):
        """Delete ``index`` unless ``alias`` serves it; a failure to is only logged."""
        try:
            if index not in self.indexes_behind(alias):
                self.client.indices.delete(index=index)
        except Exception:  # noqa: BLE001 -- the failure that led here matters more
            logger.warning("Could not delete the unfinished index %s", index, exc_info=True)

    def new_index(self, document):
        """Create an empty index for ``document``, named after its alias and the time."""
        index = f"{self.alias(document)}-{timezone.now().strftime(INDEX_TIME_FORMAT)}"
        self.client.indices.create(
            index=index, mappings=document.get_mapping(), settings=INDEX_SETTINGS
        )
        return index

    def indexes_behind(self, alias):
        if not self.client.indices.exists_alias(name=alias):
            return []
        return sorted(self.client.indices.get_alias(name=alias).body)

    def check(self, documents):
        """Raise if the cluster is red or a searchable model has no index."""
        with transient_errors():
            health = self.client.cluster.health()
            aliases = [self.alias(document) for document in documents]
            missing = [a for a in aliases if not self.client.indices.exists_alias(name=a)]
        if health["status"] == "red":
            raise RuntimeError("the Elasticsearch cluster's status is red")
        if missing:
            raise MissingIndexError(
                f"no index behind {', '.join(missing)}; run ./manage create_indexes"
            )
