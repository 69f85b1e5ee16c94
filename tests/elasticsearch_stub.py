"""An HTTP server on 127.0.0.1 that answers the search backend as Elasticsearch 9 would.

No Elasticsearch server runs where these tests run, so the backend is tested
at the client's transport boundary: the real client sends real HTTP requests,
which this server records, and answers in Elasticsearch's own formats. It
keeps just enough state for the index commands and the sync task: indexes,
aliases and the documents written (with their external versions, refusing
older writes with 409). Search answers are set by each test; scrolls list the
documents an index holds.
"""

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Elasticsearch's default index.max_result_window: from + size may not exceed it.
MAX_RESULT_WINDOW = 10_000

HEADERS = {
    # The client refuses servers that do not say they are Elasticsearch.
    "X-Elastic-Product": "Elasticsearch",
    "Content-Type": "application/vnd.elasticsearch+json;compatible-with=9",
}


@dataclass
class Request:
    method: str
    path: str
    params: dict
    body: object  # parsed JSON, a list for NDJSON (bulk), or None


class ElasticsearchStub:
    def __init__(self):
        self.requests = []
        self.indexes = {}  # index name -> set of its aliases
        # index name -> {id: {"version", "source"}}; a deleted document keeps
        # its version with source None, as Elasticsearch keeps a tombstone.
        self.documents = {}
        self.hits = []  # what a search answers: (index, id, score, source)
        self.scrolls = {}  # scroll id -> the hits still to send
        self.failures = []  # [method, path regex, status, times left]
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method, path, status, times=1):
        """Answer the next ``times`` requests matching ``method`` and ``path`` with ``status``."""
        self.failures.append([method, re.compile(path), status, times])

    def sent(self, method, path):
        """The recorded requests with this method whose path matches the regex ``path``."""
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    def alias_indexes(self, alias):
        return sorted(index for index, aliases in self.indexes.items() if alias in aliases)

    def resolve(self, name):
        """The indexes ``name`` (an index or an alias) stands for."""
        return [name] if name in self.indexes else self.alias_indexes(name)

    def stored(self, name):
        """The sources of the documents in ``name``, an index or an alias with one index."""
        (index,) = self.resolve(name)
        documents = self.documents.get(index, {})
        return {id_: doc["source"] for id_, doc in documents.items() if doc["source"] is not None}

    def handler_class(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_request(self):
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = parse_body(raw, ndjson=url.path.endswith("/_bulk"))
                request = Request(self.command, url.path, parse_qs(url.query), body)
                with stub.lock:
                    stub.requests.append(request)
                    status, body = stub.answer(request)
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in HEADERS.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_request

        return Handler

    def answer(self, request):
        for failure in self.failures:
            method, path, status, times = failure
            if times and method == request.method and path.fullmatch(request.path):
                failure[3] -= 1
                return status, error(status, "stub_failure", "failing on purpose")
        method, parts = request.method, request.path.strip("/").split("/")
        if parts == ["_cluster", "health"]:
            return 200, {"cluster_name": "stub", "status": "green"}
        if parts == ["_bulk"]:
            return 200, self.bulk(request)
        if parts == ["_aliases"]:
            return self.update_aliases(request.body["actions"])
        if parts == ["_search", "scroll"]:
            return self.scroll(request)
        if len(parts) == 2 and parts[0] == "_alias":
            found = self.alias_indexes(parts[1])
            if not found:
                return 404, None if method == "HEAD" else error(404, "aliases_not_found", parts[1])
            return 200, {index: {"aliases": {parts[1]: {}}} for index in found}
        if len(parts) == 2 and parts[1] == "_search":
            return self.search(parts[0].split(","), request)
        if len(parts) == 2 and parts[1] == "_refresh":
            if not self.resolve(parts[0]):
                return index_not_found(parts[0])
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if len(parts) == 3 and parts[1] == "_alias" and method == "PUT":
            return self.add_alias(parts[0], parts[2])
        if len(parts) == 1 and method == "PUT":
            if parts[0] in self.indexes:
                return 400, error(400, "resource_already_exists_exception", parts[0])
            self.indexes[parts[0]] = set()
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": parts[0]}
        if len(parts) == 1 and method == "HEAD":
            exists = parts[0] in self.indexes or self.alias_indexes(parts[0])
            return (200 if exists else 404), None
        if len(parts) == 1 and method == "DELETE":
            if parts[0] not in self.indexes:
                return index_not_found(parts[0])
            self.delete_index(parts[0])
            return 200, {"acknowledged": True}
        return 400, error(400, "stub_unknown_request", f"{method} {request.path}")

    def add_alias(self, index, alias):
        if index not in self.indexes:
            return index_not_found(index)
        if alias in self.indexes:
            reason = f"an index or data stream exists with the same name as the alias [{alias}]"
            return 400, error(400, "invalid_alias_name_exception", reason)
        self.indexes[index].add(alias)
        return 200, {"acknowledged": True}

    def delete_index(self, index):
        del self.indexes[index]
        self.documents.pop(index, None)

    def bulk(self, request):
        items = []
        lines = iter(request.body)
        require_alias = request.params.get("require_alias") == ["true"]
        for action in lines:
            ((op, meta),) = action.items()
            source = None if op == "delete" else next(lines)
            target = meta["_index"]
            if op == "index" and require_alias and not self.alias_indexes(target):
                status, failure = 404, error(404, "index_not_found_exception", target)
            elif op == "index":
                status, failure = self.write(target, meta, source)
            else:
                status, failure = self.delete(target, meta)
            item = {"_index": target, "_id": meta["_id"], "status": status}
            if failure:
                item["error"] = failure["error"]
            items.append({op: item})
        errors = any("error" in next(iter(item.values())) for item in items)
        return {"took": 1, "errors": errors, "items": items}

    def write(self, target, meta, source):
        if not self.resolve(target):
            # Elasticsearch creates an index for a write to an unknown name.
            self.indexes[target] = set()
        (index,) = self.resolve(target)
        documents = self.documents.setdefault(index, {})
        conflict = self.version_conflict(documents.get(meta["_id"]), meta)
        if conflict:
            return 409, conflict
        documents[meta["_id"]] = {"version": meta.get("version"), "source": source}
        return 201, None

    def delete(self, target, meta):
        if not self.resolve(target):
            return 404, error(404, "index_not_found_exception", target)
        (index,) = self.resolve(target)
        documents = self.documents.setdefault(index, {})
        current = documents.get(meta["_id"])
        conflict = self.version_conflict(current, meta)
        if conflict:
            return 409, conflict
        documents[meta["_id"]] = {"version": meta.get("version"), "source": None}
        # Not found, yet the tombstone is kept: it refuses older writes.
        return (200 if current and current["source"] is not None else 404), None

    @staticmethod
    def version_conflict(current, meta):
        """The error for a write older than ``current``, or None."""
        if meta.get("version_type") != "external_gte" or not current:
            return None
        if current["version"] is None or meta["version"] >= current["version"]:
            return None
        reason = (
            f"[{meta['_id']}]: version conflict, current version [{current['version']}] "
            f"is higher than the one provided [{meta['version']}]"
        )
        return error(409, "version_conflict_engine_exception", reason)

    def update_aliases(self, actions):
        for action in actions:
            ((op, spec),) = action.items()
            if op == "add":
                status, body = self.add_alias(spec["index"], spec["alias"])
                if status != 200:
                    return status, body
            elif op == "remove":
                self.indexes[spec["index"]].discard(spec["alias"])
            elif op == "remove_index":
                self.delete_index(spec["index"])
        return 200, {"acknowledged": True}

    def search(self, targets, request):
        missing = [name for name in targets if not self.resolve(name)]
        if missing:
            return index_not_found(missing[0])
        body = request.body or {}
        if "scroll" in request.params:
            return 200, self.start_scroll(targets, body)
        if body.get("from", 0) + body.get("size", 10) > MAX_RESULT_WINDOW:
            reason = (
                "Result window is too large, from + size must be less than or equal to: "
                f"[{MAX_RESULT_WINDOW}]"
            )
            return 400, error(400, "search_phase_execution_exception", reason)
        hits = [
            {"_index": index, "_id": str(pk), "_score": score, "_source": source}
            for index, pk, score, source in self.hits
        ]
        return 200, search_response(hits)

    def start_scroll(self, targets, body):
        """Every live document of ``targets``, page by page, ids only."""
        hits = [
            {"_index": index, "_id": id_, "_score": None, "sort": [n]}
            for name in targets
            for index in self.resolve(name)
            for n, (id_, doc) in enumerate(self.documents.get(index, {}).items())
            if doc["source"] is not None
        ]
        scroll_id = f"scroll-{len(self.scrolls)}"
        self.scrolls[scroll_id] = {"hits": hits, "size": body.get("size", 10)}
        return {"_scroll_id": scroll_id, **self.next_page(scroll_id)}

    def scroll(self, request):
        if request.method == "DELETE":
            for scroll_id in request.body["scroll_id"]:
                self.scrolls.pop(scroll_id, None)
            return 200, {"succeeded": True, "num_freed": len(request.body["scroll_id"])}
        scroll_id = request.body["scroll_id"]
        return 200, {"_scroll_id": scroll_id, **self.next_page(scroll_id)}

    def next_page(self, scroll_id):
        scroll = self.scrolls[scroll_id]
        page, scroll["hits"] = scroll["hits"][: scroll["size"]], scroll["hits"][scroll["size"] :]
        return search_response(page)


def search_response(hits):
    max_score = max((hit["_score"] or 0 for hit in hits), default=None)
    return {
        "took": 2,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": len(hits), "relation": "eq"},
            "max_score": max_score,
            "hits": hits,
        },
    }


def parse_body(raw, ndjson):
    if not raw:
        return None
    if ndjson:
        return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    return json.loads(raw)


def error(status, kind, reason, **details):
    cause = {"type": kind, "reason": reason, **details}
    return {"error": {**cause, "root_cause": [cause]}, "status": status}


def index_not_found(name):
    details = {"index": name, "resource.id": name, "resource.type": "index_or_alias"}
    return 404, error(404, "index_not_found_exception", f"no such index [{name}]", **details)
