"""Search through /api/search/ on the database backends; see also test_search_elasticsearch."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from {{ project_name }}.apps.search.backends.database import DatabaseSearchBackend
from {{ project_name }}.apps.search.backends.postgresql import search_vector
from {{ project_name }}.apps.search.documents import SearchDocument
from {{ project_name }}.apps.search.registry import document_for

pytestmark = pytest.mark.django_db

BACKENDS = "{{ project_name }}.apps.search.backends"
DATABASE = {"BACKEND": f"{BACKENDS}.database.DatabaseSearchBackend"}
POSTGRESQL = {"BACKEND": f"{BACKENDS}.postgresql.PostgresSearchBackend"}
HIT_KEYS = {"type", "id", "title", "score"}


@pytest.fixture(
    params=[
        pytest.param(DATABASE, id="database"),
        pytest.param(POSTGRESQL, id="postgresql", marks=pytest.mark.service("postgresql")),
    ]
)
def backend(request, settings):
    settings.SEARCH = request.param
    return request.param


@pytest.fixture
def library(make_article):
    return {
        "marathon": make_article("Training for a marathon", "Long runs on Sundays."),
        "kitchen": make_article("Running a kitchen", "Knives, heat and a marathon of orders."),
        "garden": make_article("Gardening", "Tomatoes need sun."),
    }


def search(api_client, **params):
    response = api_client.get("/api/search/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_title_ranks_above_the_body(api_client, backend, library):
    found = search(api_client, q="marathon")
    assert found["count"] == 2
    assert [hit["title"] for hit in found["results"]] == [
        "Training for a marathon",
        "Running a kitchen",
    ]
    hit = found["results"][0]
    assert set(hit) == HIT_KEYS
    assert hit == {**hit, "type": "article", "id": library["marathon"].pk}
    assert found["results"][0]["score"] > found["results"][1]["score"]


def test_every_word_must_match(api_client, backend, library):
    found = search(api_client, q="marathon kitchen")
    assert [hit["id"] for hit in found["results"]] == [library["kitchen"].pk]


def test_the_answer_says_which_backend_and_page(api_client, backend, library):
    found = search(api_client, q="marathon", limit=1, offset=1)
    expected_backend = "postgresql" if backend is POSTGRESQL else "database"
    assert found | {"results": None} == {
        "query": "marathon",
        "backend": expected_backend,
        "count": 2,
        "limit": 1,
        "offset": 1,
        "results": None,
    }
    assert [hit["title"] for hit in found["results"]] == ["Running a kitchen"]


def test_pages_end_where_elasticsearch_stops(api_client, backend, library):
    # Every backend refuses what Elasticsearch would, so clients see one API.
    assert search(api_client, q="marathon", offset=9_990, limit=10)["results"] == []
    response = api_client.get("/api/search/", {"q": "marathon", "offset": 9_991, "limit": 10})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["offset + limit must not exceed 10000."]}


def test_nothing_found(api_client, backend, library):
    found = search(api_client, q="submarine")
    assert found["count"] == 0
    assert found["results"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": "  "}, "q"),
        ({"q": "x", "limit": 0}, "limit"),
        ({"q": "x", "offset": -1}, "offset"),
    ],
)
def test_bad_parameters_are_named(api_client, params, field):
    response = api_client.get("/api/search/", params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.service("postgresql")
def test_postgresql_search_stems_words(api_client, settings, library):
    settings.SEARCH = POSTGRESQL
    found = search(api_client, q="trained running")
    assert [hit["id"] for hit in found["results"]] == [library["marathon"].pk]


@pytest.mark.service("postgresql")
def test_postgresql_search_uses_the_migrations_index(library):
    document = document_for("articles.article")
    queryset = document.get_queryset().annotate(v=search_vector(document)).filter(v="marathon")
    with connection.cursor() as cursor:
        # So few rows would be read whole; make the planner show if it can use the index.
        cursor.execute("SET enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute("RESET enable_seqscan")
    assert "article_search_vector" in plan


def test_the_database_score_is_a_plain_sum():
    matches = DatabaseSearchBackend().matching(document_for("articles.article"), ["marathon"])
    assert "COALESCE" not in str(matches.query).upper()


def test_the_article_mapping_extends_the_common_one(monkeypatch):
    common = SearchDocument.get_mapping
    monkeypatch.setattr(
        SearchDocument, "get_mapping", lambda document: dict(common(document), dynamic="strict")
    )
    mapping = document_for("articles.article").get_mapping()
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["title"]["fields"] == {"raw": {"type": "keyword"}}
    assert mapping["properties"]["body"] == {"type": "text", "analyzer": "english"}


def test_database_backends_keep_no_index(
    settings, make_article, django_capture_on_commit_callbacks
):
    settings.SEARCH = DATABASE
    with django_capture_on_commit_callbacks() as callbacks:
        make_article("Nothing to sync").delete()
    assert callbacks == []


def test_the_index_commands_say_there_is_nothing_to_do(settings):
    settings.SEARCH = DATABASE
    out = StringIO()
    call_command("create_indexes", stdout=out)
    call_command("rebuild_indexes", stdout=out)
    assert out.getvalue().splitlines() == [
        "database: no index to create for article",
        "database: no index to rebuild for article",
    ]
