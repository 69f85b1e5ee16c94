"""Deploys refuse the migrations the serving release could not survive (apps/migration_safety)."""

import json

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently
from django.core.management import CommandError, call_command
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django_migration_linter.operations import IgnoreMigration

from {{ project_name }}.apps.migration_safety.plan import check_migration

# transaction=True: SQLite edits no schema inside the test case's transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def state_after_0002():
    loader = MigrationLoader(connection)
    return loader.project_state(("articles", "0002_search_index"), at_end=True)


def migration(name, *operations, atomic=True):
    made = migrations.Migration(name, "articles")
    made.operations = list(operations)
    made.atomic = atomic
    return made


def findings(*operations, atomic=True, name="0003_change", state=None, new_tables=None):
    """What check_migration finds in a migration of ``operations`` (after articles 0002)."""
    found = check_migration(
        connection,
        migration(name, *operations, atomic=atomic),
        state_after_0002() if state is None else state,
        set() if new_tables is None else new_tables,
    )
    return [(finding.migration, finding.operation, finding.code) for finding in found]


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        (migrations.RemoveField("article", "body"), "DROP_COLUMN"),
        (migrations.RenameField("article", "body", "text"), "RENAME_COLUMN"),
        (migrations.AddField("article", "stars", models.IntegerField(default=0)), "NOT_NULL"),
        (migrations.DeleteModel("article"), "DROP_TABLE"),
    ],
    ids=["drop", "rename", "not-null", "drop-table"],
)
def test_what_the_serving_release_cannot_survive_is_named(operation, code):
    found = findings(operation)
    assert (("articles.0003_change", operation.describe(), code)) in found, found


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AddField("article", "subtitle", models.CharField(max_length=80, null=True)),
        migrations.AlterModelOptions("article", {"ordering": ["-id"]}),
        migrations.RunPython(migrations.RunPython.noop),
    ],
    ids=["nullable-column", "state-only", "run-python"],
)
def test_what_it_survives_passes(operation):
    assert findings(operation) == []


def test_a_table_this_deploy_creates_may_change_as_it_likes():
    rating = migrations.CreateModel(
        "Rating", [("id", models.BigAutoField(primary_key=True)), ("stars", models.IntegerField())]
    )
    stars = migrations.AddField("rating", "votes", models.IntegerField(default=0))
    assert findings(rating, stars) == []
    # In a later migration of the same deploy too.
    state, new_tables = state_after_0002(), set()
    assert findings(rating, name="0003_rating", state=state, new_tables=new_tables) == []
    assert findings(stars, name="0004_votes", state=state, new_tables=new_tables) == []
    assert "articles_rating" in new_tables


def test_a_migration_marked_ignored_is_let_through():
    assert findings(IgnoreMigration(), migrations.RemoveField("article", "body")) == []


@pytest.mark.service("postgresql")
def test_on_postgresql_an_index_must_be_built_concurrently():
    index = models.Index(fields=["title"], name="article_title")
    assert findings(migrations.AddIndex("article", index)) == [
        ("articles.0003_change", migrations.AddIndex("article", index).describe(), "CREATE_INDEX")
    ]
    assert findings(AddIndexConcurrently("article", index), atomic=False) == []


@pytest.mark.service("postgresql")
def test_on_postgresql_a_database_default_makes_a_not_null_column_safe():
    field = models.IntegerField(db_default=0)
    assert findings(migrations.AddField("article", "stars", field)) == []


def test_the_command_names_the_migration_the_operation_and_the_way_out(settings):
    call_command("check_migrations")  # nothing pending: nothing to refuse
    settings.MIGRATION_MODULES = {"articles": "tests.breaking_migrations"}
    with pytest.raises(CommandError) as refused:
        call_command("check_migrations")
    message = str(refused.value)
    assert "1 operation(s) of the pending migrations would break the release" in message
    assert "articles.0003_remove_article_body: Remove field body from article" in message
    assert "drops a column (DROP_COLUMN)" in message
    assert "SeparateDatabaseAndState" in message


def test_for_the_deploy_the_command_prints_the_plan_and_the_refusal_as_json(settings, capsys):
    call_command("check_migrations", "--json")
    assert json.loads(capsys.readouterr().out) == {"pending": [], "refusal": None}
    settings.MIGRATION_MODULES = {"articles": "tests.breaking_migrations"}
    call_command("check_migrations", "--json")  # it refuses nothing itself
    plan = json.loads(capsys.readouterr().out)
    assert plan["pending"] == ["articles.0003_remove_article_body"]
    assert plan["refusal"].startswith("1 operation(s) of the pending migrations would break")
    assert "drops a column (DROP_COLUMN)" in plan["refusal"]


@pytest.mark.service("postgresql")
def test_on_postgresql_raw_sql_building_an_index_under_a_lock_is_found():
    sql = 'CREATE INDEX "title" ON "articles_article" ("title")'
    [(_, operation, code)] = findings(migrations.RunSQL(sql, 'DROP INDEX "title"'))
    assert (operation, code) == ("Raw SQL operation", "CREATE_INDEX")
