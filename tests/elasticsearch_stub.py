"""An HTTP server on 127.0.0.1 that answers the search backend as Elasticsearch 9 would.

No Elasticsearch server runs where these tests run, so the backend is tested
at the client's transport boundary: the real client sends real HTTP requests,
which this server records, and answers in Elasticsearch's own formats. It
keeps just enough state (indexes and aliases) for the index commands; search
answers are set by each test.
"""

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

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
        self.hits = []  # what a search answers: (index, id, score, source)
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
        if len(parts) == 2 and parts[0] == "_alias":
            found = self.alias_indexes(parts[1])
            if not found:
                return 404, None if method == "HEAD" else error(404, "aliases_not_found", parts[1])
            return 200, {index: {"aliases": {parts[1]: {}}} for index in found}
        if len(parts) == 2 and parts[1] == "_search":
            return 200, self.search()
        if len(parts) == 3 and parts[1] == "_alias" and method == "PUT":
            self.indexes[parts[0]].add(parts[2])
            return 200, {"acknowledged": True}
        if len(parts) == 1 and method == "PUT":
            if parts[0] in self.indexes:
                return 400, error(400, "resource_already_exists_exception", parts[0])
            self.indexes[parts[0]] = set()
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": parts[0]}
        if len(parts) == 1 and method == "HEAD":
            exists = parts[0] in self.indexes or self.alias_indexes(parts[0])
            return (200 if exists else 404), None
        if len(parts) == 1 and method == "DELETE":
            del self.indexes[parts[0]]
            return 200, {"acknowledged": True}
        return 400, error(400, "stub_unknown_request", f"{method} {request.path}")

    def bulk(self, request):
        items = []
        lines = iter(request.body)
        for action in lines:
            ((op, meta),) = action.items()
            if op != "delete":
                next(lines)  # the document
            target = meta["_index"]
            known = target in self.indexes or self.alias_indexes(target)
            status = 201 if op == "index" else 200
            if op == "delete" and not known:
                status = 404
            if op == "index" and request.params.get("require_alias") == ["true"]:
                if not self.alias_indexes(target):
                    status = 404
            item = {"_index": target, "_id": meta["_id"], "status": status}
            if status == 404 and op == "index":
                item["error"] = error(404, "index_not_found_exception", target)["error"]
            items.append({op: item})
        errors = any("error" in next(iter(item.values())) for item in items)
        return {"took": 1, "errors": errors, "items": items}

    def update_aliases(self, actions):
        for action in actions:
            ((op, spec),) = action.items()
            if op == "add":
                self.indexes[spec["index"]].add(spec["alias"])
            elif op == "remove":
                self.indexes[spec["index"]].discard(spec["alias"])
            elif op == "remove_index":
                del self.indexes[spec["index"]]
        return 200, {"acknowledged": True}

    def search(self):
        hits = [
            {"_index": index, "_id": str(pk), "_score": score, "_source": source}
            for index, pk, score, source in self.hits
        ]
        max_score = max((hit["_score"] for hit in hits), default=None)
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


def error(status, kind, reason):
    return {"error": {"type": kind, "reason": reason, "root_cause": []}, "status": status}
