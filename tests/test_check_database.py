"""./manage check_database: does a database (a restored copy) serve this code? (apps/health)"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from {{ project_name }}.apps.articles.models import Article
from {{ project_name }}.apps.health.schema import check_schema
from {{ project_name }}.apps.users.models import User

# transaction=True: the schema is changed and changed back, outside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def check_database() -> str:
    out = StringIO()
    call_command("check_database", stdout=out)
    return out.getvalue()


def test_a_migrated_database_passes_with_each_tables_rows():
    author = User.objects.create_user("ann", password="x" * 12)
    Article.objects.create(title="One", author=author)
    Article.objects.create(title="Two", author=author)
    output = check_database()
    assert "articles.Article" in output
    line = next(line for line in output.splitlines() if line.startswith("articles.Article"))
    assert line.split()[1:] == ["articles_article", "2"]
    assert output.splitlines()[0].split() == ["model", "table", "rows"]
    # The tables of many-to-many fields too.
    assert "users_user_groups" in output
    assert "none missing" in output.splitlines()[-1]


def test_a_migration_the_database_lacks_is_named():
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("articles", "0002_search_index")
    try:
        with pytest.raises(
            CommandError,
            match=r"1 migration\(s\) of this code not applied: "
            r"articles\.0002_search_index; the database is older than the code",
        ):
            check_database()
    finally:
        recorder.record_applied("articles", "0002_search_index")


def test_a_column_the_database_lacks_is_named_with_its_table_and_the_rest_still_read():
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE articles_article RENAME COLUMN body TO body_gone")
    try:
        report = check_schema(connection)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE articles_article RENAME COLUMN body_gone TO body")
    assert len(report.problems) == 1
    assert report.problems[0].startswith("articles.Article (table articles_article): ")
    assert "body" in report.problems[0]
    # The failed read did not stop the others.
    assert "users.User" in {label for label, _, _ in report.tables}
    assert "articles.Article" not in {label for label, _, _ in report.tables}
