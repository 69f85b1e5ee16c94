"""A GIN index for PostgreSQL's full-text search of articles; nothing on other databases.

The indexed expression must stay the one search.backends.postgresql builds
from ArticleDocument (fields title then body, weights A then B, english).
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

SEARCH_INDEX = GinIndex(
    SearchVector("title", weight="A", config="english")
    + SearchVector("body", weight="B", config="english"),
    name="article_search_vector",
)


def add_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        model = apps.get_model("articles", "Article")
        # CONCURRENTLY: the table takes writes while the index builds.
        schema_editor.add_index(model, SEARCH_INDEX, concurrently=True)


def remove_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        model = apps.get_model("articles", "Article")
        schema_editor.remove_index(model, SEARCH_INDEX, concurrently=True)


class Migration(migrations.Migration):
    # A concurrent index build cannot run inside a transaction.
    atomic = False
    dependencies = [("articles", "0001_initial")]

    operations = [migrations.RunPython(add_search_index, remove_search_index)]
