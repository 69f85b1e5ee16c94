"""The Elasticsearch backend, through the real client against a stub server (see its module)."""

import logging
from datetime import timedelta
from io import StringIO

import pytest
from celery import current_app
from django.core.management import CommandError, call_command
from django.utils import timezone
from elasticsearch import ApiError, BadRequestError

from {{ project_name }}.apps.articles.models import Article
from {{ project_name }}.apps.search.backends import TransientSearchError, get_backend
from {{ project_name }}.apps.search.backends import elasticsearch as backend_module
from {{ project_name }}.apps.search.backends.elasticsearch import (
    ElasticsearchBackend,
    external_version,
)
from {{ project_name }}.apps.search.registry import document_for
from {{ project_name }}.apps.search.tasks import sync_search_document

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

INDEX = r"/test-article-\d{20}"
LABEL = "articles.article"


@pytest.fixture
def no_catch_up_margin(monkeypatch):
    """Rebuilds index again only rows saved after they start, not a few minutes before."""
    monkeypatch.setattr(backend_module, "CATCH_UP_MARGIN", timedelta(0))


def index_action(index, article):
    return {
        "index": {
            "_index": index,
            "_id": str(article.pk),
            "version": external_version(article.updated_at),
            "version_type": "external_gte",
        }
    }


def logged(caplog, name):
    """What the logger ``name`` ends with wrote, tracebacks included."""
    records = [r for r in caplog.records if r.name.endswith(name)]
    return "\n".join(caplog.handler.format(record) for record in records)


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
    # Versioned by the row's last save, so an older write arriving later is refused.
    assert action == index_action("test-article", article)
    assert source == {
        "title": "Indexed",
        "body": "Body text",
        "author": "alice",
        "created_at": article.created_at.isoformat(),
    }

    pk = article.pk
    before = external_version(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        article.delete()
    deleted = elasticsearch.sent("PUT", "/_bulk")[1]
    ((delete,),) = [action.values() for action in deleted.body]
    # Versioned by the time the task found the row gone.
    assert delete.pop("version") >= before
    assert delete == {"_index": "test-article", "_id": str(pk), "version_type": "external_gte"}
    assert elasticsearch.stored("test-article") == {}


def test_a_write_older_than_what_the_index_holds_is_refused_quietly(elasticsearch, make_article):
    command("create_indexes")
    article = make_article("First version")
    # What a slow task read before the row changed again.
    stale = Article.objects.get(pk=article.pk)
    article.title = "Second version"
    article.save()
    # The task of the second save finishes first, the slow one last.
    sync_search_document(LABEL, article.pk)
    get_backend().update(document_for(LABEL), [stale])

    late = elasticsearch.sent("PUT", "/_bulk")[-1]
    assert late.body[0] == index_action("test-article", stale)
    assert elasticsearch.stored("test-article")[str(article.pk)]["title"] == "Second version"


def test_a_write_older_than_a_delete_is_refused_quietly(elasticsearch, make_article):
    command("create_indexes")
    article = make_article("Deleted")
    stale, pk = Article.objects.get(pk=article.pk), article.pk
    sync_search_document(LABEL, pk)
    article.delete()
    sync_search_document(LABEL, pk)
    # A task that read the row before it was deleted writes last.
    get_backend().update(document_for(LABEL), [stale])
    assert elasticsearch.stored("test-article") == {}


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
    ((delete,),) = [action.values() for action in deleted.body]
    assert (delete["_index"], delete["_id"]) == ("test-article", "123456")


@pytest.mark.usefixtures("no_catch_up_margin")
def test_rebuild_fills_a_new_index_then_swaps_the_alias(elasticsearch, make_article):
    command("create_indexes")
    (old,) = elasticsearch.alias_indexes("test-article")
    articles = [make_article(f"Article {n}") for n in range(3)]

    (line,) = command("rebuild_indexes")
    (new,) = elasticsearch.alias_indexes("test-article")
    assert new != old
    assert line == (
        f"test-article: 3 documents in {new}, then 0 indexed again "
        "and 0 removed for changes made meanwhile"
    )
    (filled,) = elasticsearch.sent("PUT", "/_bulk")
    assert filled.body[::2] == [index_action(new, a) for a in articles]
    assert set(elasticsearch.stored(new)) == {str(a.pk) for a in articles}
    # Filled and refreshed before the swap, so searches see it whole at once.
    assert elasticsearch.sent("POST", f"/{new}/_refresh")
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


@pytest.mark.usefixtures("no_catch_up_margin")
def test_rebuild_catches_up_with_saves_and_deletes_made_meanwhile(
    elasticsearch, make_article, monkeypatch
):
    command("create_indexes")
    edited, deleted = make_article("Edited"), make_article("Deleted")
    kept = make_article("Kept")
    made = []

    def change_then_swap(backend, alias, index):
        # The new index is full; sync tasks still write to the old one.
        edited.title = "Edited meanwhile"
        edited.save()
        made.append(make_article("Created meanwhile"))
        gone = deleted.pk
        deleted.delete()
        for pk in (edited.pk, made[0].pk, gone):
            sync_search_document(LABEL, pk)
        return real_swap(backend, alias, index)

    real_swap = ElasticsearchBackend.swap
    monkeypatch.setattr(ElasticsearchBackend, "swap", change_then_swap)
    (line,) = command("rebuild_indexes")

    assert line.endswith(", then 2 indexed again and 1 removed for changes made meanwhile")
    stored = elasticsearch.stored("test-article")
    assert {pk: source["title"] for pk, source in stored.items()} == {
        str(edited.pk): "Edited meanwhile",
        str(kept.pk): "Kept",
        str(made[0].pk): "Created meanwhile",
    }


def test_rebuild_also_indexes_again_rows_saved_shortly_before_it_started(
    elasticsearch, make_article
):
    command("create_indexes")
    recent, older = make_article("Saved 4 minutes ago"), make_article("Saved 6 minutes ago")
    # A save just before the rebuild may commit only after it read the rows.
    for article, minutes in ((recent, 4), (older, 6)):
        updated_at = timezone.now() - timedelta(minutes=minutes)
        Article.objects.filter(pk=article.pk).update(updated_at=updated_at)
    command("rebuild_indexes")
    fill, catch_up = elasticsearch.sent("PUT", "/_bulk")
    assert [action["index"]["_id"] for action in catch_up.body[::2]] == [str(recent.pk)]


@pytest.mark.parametrize(
    ("status", "error"), [(503, CommandError), (400, BadRequestError)], ids=["503", "400"]
)
def test_a_failed_rebuild_deletes_its_new_index(elasticsearch, make_article, status, error):
    command("create_indexes")
    (old,) = elasticsearch.alias_indexes("test-article")
    make_article("Never indexed")
    elasticsearch.fail("PUT", "/_bulk", status)
    with pytest.raises(error):
        command("rebuild_indexes")
    (created,) = [r.path.strip("/") for r in elasticsearch.sent("PUT", INDEX)][1:]
    assert elasticsearch.sent("DELETE", f"/{created}")
    assert list(elasticsearch.indexes) == [old]
    assert elasticsearch.alias_indexes("test-article") == [old]


def test_a_failure_after_the_swap_keeps_the_new_index(elasticsearch):
    command("create_indexes")
    (old,) = elasticsearch.alias_indexes("test-article")
    elasticsearch.fail("DELETE", f"/{old}", 500)
    with pytest.raises(ApiError):
        command("rebuild_indexes")
    (new,) = elasticsearch.alias_indexes("test-article")
    assert new != old
    assert set(elasticsearch.indexes) == {old, new}


def test_create_indexes_refuses_an_index_that_took_the_alias_name(elasticsearch):
    elasticsearch.indexes["test-article"] = set()
    with pytest.raises(CommandError, match="test-article is an index, not an alias") as raised:
        command("create_indexes")
    assert "Run ./manage rebuild_indexes" in str(raised.value)
    assert list(elasticsearch.indexes) == ["test-article"]


def test_create_indexes_deletes_an_index_it_could_not_put_behind_the_alias(elasticsearch):
    elasticsearch.fail("PUT", INDEX + "/_alias/test-article", 503)
    with pytest.raises(CommandError):
        command("create_indexes")
    assert elasticsearch.indexes == {}


def test_search_sends_one_query_and_returns_the_common_shape(
    api_client, elasticsearch, make_article
):
    command("create_indexes")
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
    # Exactly the article index: a term on _index matches the indexes behind an alias.
    assert query["bool"]["filter"] == {"term": {"_index": "test-article"}}


def test_hits_are_matched_to_the_document_of_exactly_their_alias():
    article, draft = object(), object()
    by_alias = {"test-article": article, "test-article-draft": draft}
    document_of = ElasticsearchBackend.document_of
    assert document_of("test-article-draft-20261125101500000000", by_alias) is draft
    assert document_of("test-article-20261125101500000000", by_alias) is article
    # An index that took the alias's name, until rebuild_indexes replaces it.
    assert document_of("test-article", by_alias) is article
    with pytest.raises(LookupError):
        document_of("test-articles-20261125101500000000", by_alias)


def test_a_page_past_the_result_window_never_reaches_elasticsearch(api_client, elasticsearch):
    command("create_indexes")
    last = api_client.get("/api/search/", {"q": "x", "offset": 9_990, "limit": 10})
    assert last.status_code == 200
    beyond = api_client.get("/api/search/", {"q": "x", "offset": 9_991, "limit": 10})
    assert beyond.status_code == 400
    assert beyond.json() == {"non_field_errors": ["offset + limit must not exceed 10000."]}
    (sent,) = elasticsearch.sent("POST", "/test-article/_search")
    assert (sent.body["from"], sent.body["size"]) == (9_990, 10)


def test_search_answers_503_when_the_server_is_down(api_client, elasticsearch, caplog):
    elasticsearch.__exit__()
    response = api_client.get("/api/search/", {"q": "anything"})
    assert response.status_code == 503
    # Anyone may search: the answer names no host, the log does.
    assert response.json() == {"detail": "Search is unavailable; try again later."}
    port = elasticsearch.url.rsplit(":", 1)[1]
    assert f"port={port}): Failed to establish" in logged(caplog, "search.views")


def test_search_before_create_indexes_answers_503_saying_what_to_run(
    api_client, elasticsearch, caplog
):
    caplog.set_level(logging.WARNING)
    response = api_client.get("/api/search/", {"q": "anything"})
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Search is unavailable: its index does not exist yet. "
        "Run ./manage create_indexes."
    }
    assert "no such index [test-article]" in logged(caplog, "search.views")


def test_health_fails_search_while_an_index_is_missing(client, elasticsearch, caplog):
    search = client.get("/health/").json()["components"]["search"]
    assert search["status"] == "fail"
    assert search["error"] == "MissingIndexError"
    expected = "no index behind test-article; run ./manage create_indexes"
    assert expected in logged(caplog, "health.report")
    assert elasticsearch.sent("HEAD", "/_alias/test-article")

    command("create_indexes")
    assert client.get("/health/").json()["components"]["search"]["status"] == "ok"


def test_health_reports_search_without_failing_on_it(client, elasticsearch):
    command("create_indexes")
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
