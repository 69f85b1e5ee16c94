import pytest

pytestmark = pytest.mark.django_db


def test_anyone_can_read_articles_newest_first(api_client, make_article):
    make_article("First")
    make_article("Second", "More words.")
    listing = api_client.get("/api/articles/").json()
    assert listing["count"] == 2
    assert [row["title"] for row in listing["results"]] == ["Second", "First"]
    assert listing["results"][0]["author"] == "alice"


def test_signed_in_users_write_articles_as_themselves(api_client, user):
    api_client.force_authenticate(user)
    response = api_client.post(
        "/api/articles/", {"title": "Hello", "body": "World", "author": "mallory"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["author"] == "alice"


def test_anonymous_users_cannot_write(api_client):
    response = api_client.post("/api/articles/", {"title": "Spam"}, format="json")
    assert response.status_code == 401


def test_only_the_author_changes_or_deletes_an_article(api_client, make_article, other_user):
    article = make_article("Mine")
    api_client.force_authenticate(other_user)
    url = f"/api/articles/{article.pk}/"
    assert api_client.patch(url, {"title": "Theirs"}, format="json").status_code == 403
    assert api_client.delete(url).status_code == 403

    api_client.force_authenticate(article.author)
    assert api_client.patch(url, {"title": "Still mine"}, format="json").status_code == 200
    assert api_client.delete(url).status_code == 204


def test_a_title_is_required(api_client, user):
    api_client.force_authenticate(user)
    response = api_client.post("/api/articles/", {"body": "No title"}, format="json")
    assert response.status_code == 400
    assert "title" in response.json()
