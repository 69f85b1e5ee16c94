"""The Elasticsearch backend, through the real client against a stub server (see its module)."""

from io import StringIO

import pytest
from celery import current_app
from django.core.management import CommandError, call_command

from {{ project_name }}.apps.search.backends import TransientSearchError, get_backend
from {{ project_name }}.apps.search.registry import document_for
from {{ project_name }}.apps.search.tasks import sync_search_document

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

INDEX = r"/test-article-\d{20}"


def command(name):
    out = StringIO()
    call_command(name, stdout=out)
    return out.getvalue().splitlines()


def test_create_indexes_creates_the_index_behind_its_alias_once(elasticsearch):
    (created,) = command("create_indexes")
    assert created.startswith("test-article: created test-article-")

    (create,) = elasticsearch.sent("PUT", INDEX)
    assert create.body["settings"] == {"number_of_shards": 1}
    properties = create.body["mappings"]["properties"]
    assert properties["title"] == {
        "type": "text",
        "analyzer": "english",
        "fields": {"raw": {"type": "keyword"}},
    }
    assert properties["body"] == {"type": "text", "analyzer": "english"}
    assert properties["author"] == {"type": "keyword"}
    index = create.path.strip("/")
    (alias,) = elasticsearch.sent("PUT", f"/{index}/_alias/test-article")
    assert alias.body == {"is_write_index": True}

    assert command("create_indexes") == ["test-article: exists"]
    assert len(elasticsearch.sent("PUT", INDEX)) == 1


def test_saving_and_deleting_an_article_syncs_the_index(
    elasticsearch, make_article, django_capture_on_commit_callbacks
):
    command("create_indexes")
    with django_capture_on_commit_callbacks(execute=True):
        article = make_article("Indexed", "Body text")
    (saved,) = elasticsearch.sent("PUT", "/_bulk")
    # Writes go through the alias and may never create an index by themselves.
    assert saved.params["require_alias"] == ["true"]
    action, source = saved.body
    assert action == {"index": {"_index": "test-article", "_id": str(article.pk)}}
    assert source == {
        "title": "Indexed",
        "body": "Body text",
        "author": "alice",
        "created_at": article.created_at.isoformat(),
    }

    pk = article.pk
    with django_capture_on_commit_callbacks(execute=True):
        article.delete()
    deleted = elasticsearch.sent("PUT", "/_bulk")[1]
    assert deleted.body == [{"delete": {"_index": "test-article", "_id": str(pk)}}]


def test_a_transient_failure_is_retried(elasticsearch, make_article):
    command("create_indexes")
    article = make_article("Retried")
    elasticsearch.fail("PUT", "/_bulk", 503)
    elasticsearch.fail("PUT", "/_bulk", 429)
    # Eager retries happen at once, but only when failures are not raised to the caller.
    current_app.conf.task_eager_propagates = False
    try:
        result = sync_search_document.delay("articles.article", article.pk)
    finally:
        current_app.conf.task_eager_propagates = True
    assert result.successful()
    attempts = elasticsearch.sent("PUT", "/_bulk")
    assert len(attempts) == 3
    assert all(a.body[0]["index"]["_id"] == str(article.pk) for a in attempts)


def test_an_unreachable_server_is_a_transient_failure(elasticsearch, make_article):
    article = make_article("Nobody home")
    elasticsearch.__exit__()
    with pytest.raises(TransientSearchError, match="did not answer"):
        get_backend().update(document_for("articles.article"), [article])


def test_a_write_before_create_indexes_fails_without_creating_an_index(elasticsearch, make_article):
    article = make_article("Too early")
    with pytest.raises(RuntimeError, match="index_not_found_exception: test-article; run ./"):
        sync_search_document("articles.article", article.pk)
    assert elasticsearch.indexes == {}
    assert len(elasticsearch.sent("PUT", "/_bulk")) == 1


def test_deleting_what_the_index_never_had_succeeds(elasticsearch):
    command("create_indexes")
    sync_search_document("articles.article", 123456)
    (deleted,) = elasticsearch.sent("PUT", "/_bulk")
    assert deleted.body == [{"delete": {"_index": "test-article", "_id": "123456"}}]


def test_rebuild_fills_a_new_index_then_swaps_the_alias(elasticsearch, make_article):
    command("create_indexes")
    (old,) = elasticsearch.alias_indexes("test-article")
    articles = [make_article(f"Article {n}") for n in range(3)]

    (line,) = command("rebuild_indexes")
    (new,) = elasticsearch.alias_indexes("test-article")
    assert new != old
    assert line == f"test-article: 3 documents in {new}"
    (filled,) = elasticsearch.sent("PUT", "/_bulk")
    assert [a["index"] for a in filled.body[::2]] == [
        {"_index": new, "_id": str(a.pk)} for a in articles
    ]
    (swap,) = elasticsearch.sent("POST", "/_aliases")
    assert swap.body["actions"] == [
        {"remove": {"index": old, "alias": "test-article"}},
        {"add": {"index": new, "alias": "test-article", "is_write_index": True}},
    ]
    assert elasticsearch.sent("DELETE", f"/{old}")
    assert list(elasticsearch.indexes) == [new]


def test_rebuild_replaces_an_index_that_took_the_alias_name(elasticsearch):
    elasticsearch.indexes["test-article"] = set()
    command("rebuild_indexes")
    (swap,) = elasticsearch.sent("POST", "/_aliases")
    assert swap.body["actions"][0] == {"remove_index": {"index": "test-article"}}
    assert elasticsearch.alias_indexes("test-article")


def test_search_sends_one_query_and_returns_the_common_shape(
    api_client, elasticsearch, make_article
):
    article = make_article("Elastic article")
    elasticsearch.hits = [
        ("test-article-20261125101500000000", article.pk, 3.5, {"title": "Elastic article"})
    ]
    response = api_client.get("/api/search/", {"q": "elastic", "limit": 5, "offset": 10})
    assert response.status_code == 200
    assert response.json() == {
        "query": "elastic",
        "backend": "elasticsearch",
        "count": 1,
        "limit": 5,
        "offset": 10,
        "results": [
            {"type": "article", "id": article.pk, "title": "Elastic article", "score": 3.5}
        ],
    }
    (sent,) = elasticsearch.sent("POST", "/test-article/_search")
    assert sent.body["from"] == 10
    assert sent.body["size"] == 5
    assert sent.body["_source"] == ["title"]
    assert sent.body["track_total_hits"] is True
    (query,) = sent.body["query"]["bool"]["should"]
    assert query["bool"]["must"] == {
        "multi_match": {
            "query": "elastic",
            "fields": ["title^2", "body^1"],
            "type": "cross_fields",
            "operator": "and",
        }
    }
    assert query["bool"]["filter"] == {"prefix": {"_index": "test-article-"}}


def test_search_answers_503_when_the_server_is_down(api_client, elasticsearch):
    elasticsearch.__exit__()
    response = api_client.get("/api/search/", {"q": "anything"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("Search is unavailable: Elasticsearch did not")


def test_health_reports_search_without_failing_on_it(client, elasticsearch):
    search = client.get("/health/").json()["components"]["search"]
    assert search["status"] == "ok"
    assert search["required"] is False
    assert elasticsearch.sent("GET", "/_cluster/health")

    elasticsearch.fail("GET", "/_cluster/health", 503)
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["components"]["search"]["status"] == "fail"


def test_index_commands_name_the_setting_when_the_server_is_down(elasticsearch):
    elasticsearch.__exit__()
    with pytest.raises(CommandError, match=f"server at {elasticsearch.url} runs"):
        command("create_indexes")
