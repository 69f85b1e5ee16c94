"""Which pending migrations the release that serves during a deploy could not survive.

A deploy migrates while the previous release still serves, and keeps serving
if the new one fails. So every migration must leave a schema the previous
code still works with: no dropped or renamed column or table, no NOT NULL
column the old code's INSERTs leave out, no type change, no index build
that locks the table's writes. django-migration-linter reads the SQL of each
operation and names those; a finding says how to split the change into
steps that each release survives (expand, deploy, contract).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import Migration
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState
from django_migration_linter.operations import IgnoreMigration
from django_migration_linter.sql_analyser.analyser import (
    analyse_sql_statements,
    get_sql_analyser_class,
)

# What to do instead, for each of the linter's findings.
CONCURRENT_INDEX = (
    "build it without locking writes: AddIndexConcurrently (django.contrib.postgres.operations) "
    "in a migration with atomic = False"
)
ADVICE = {
    "DROP_COLUMN": (
        "the serving release still reads and writes it. First deploy code that no longer uses "
        "the field (a migration with SeparateDatabaseAndState removes it from the models only), "
        "then drop the column in a later release"
    ),
    "DROP_TABLE": (
        "the serving release still uses it. First deploy code without the model (removed from "
        "the state only, SeparateDatabaseAndState), then drop the table in a later release"
    ),
    "RENAME_COLUMN": (
        "the serving release still uses the old name. Add the new column and write both in one "
        "release, read the new one in the next, drop the old one in a third"
    ),
    "RENAME_TABLE": (
        "the serving release still uses the old name. Keep the table's name (Meta.db_table) "
        "or copy it to a new table across releases"
    ),
    "NOT_NULL": (
        "rows the serving release inserts leave the column out. Give the field a database "
        "default (db_default=...), or add it nullable, fill it, and make it NOT NULL in a "
        "later release"
    ),
    "ALTER_COLUMN": (
        "the serving release writes the old type, and the table is rewritten under a lock. "
        "Add a column of the new type beside the old one and move to it across releases"
    ),
    "ADD_UNIQUE": (
        "the constraint locks the table while it checks every row, and may reject what the "
        "serving release writes. Build a unique index concurrently first, then add the "
        "constraint USING INDEX (RunSQL in a migration with atomic = False)"
    ),
    "CREATE_INDEX": CONCURRENT_INDEX,
    "CREATE_INDEX_EXCLUSIVE": CONCURRENT_INDEX,
    "DROP_INDEX": (
        "drop it without locking writes: RemoveIndexConcurrently in a migration with atomic = False"
    ),
    "REINDEX": "rebuild it without locking writes: REINDEX CONCURRENTLY",
}
CREATED_TABLE = re.compile(r'^CREATE TABLE "?([\w.]+)"?', re.IGNORECASE)
NAMED_TABLE = re.compile(r'\b(?:TABLE|ON|INTO|UPDATE|FROM)\s+(?:ONLY\s+)?"([\w.]+)"', re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One operation of a pending migration that the serving release could not survive."""

    migration: str  # app_label.name
    operation: str  # Django's own description of it
    code: str  # the linter's
    problem: str
    advice: str

    def __str__(self) -> str:
        return (
            f"{self.migration}: {self.operation}\n    {self.problem} ({self.code}): {self.advice}"
        )


def issue_codes(analyser: type, statements: list[str]) -> Counter:
    errors, _, warnings = analyse_sql_statements(analyser, statements)
    return Counter(issue.code for issue in errors + warnings)


def check_migration(
    connection: BaseDatabaseWrapper,
    migration: Migration,
    state: ProjectState,
    new_tables: set[str],
) -> list[Finding]:
    """The findings for each operation of ``migration``, applied on top of ``state``.

    ``new_tables``: the tables earlier pending migrations create, which no
    serving code uses; the ones this migration creates are added to it.
    Operations whose SQL cannot be read (RunPython) are not judged.
    """
    if any(isinstance(operation, IgnoreMigration) for operation in migration.operations):
        return []
    analyser = get_sql_analyser_class(connection.vendor)
    atomic = migration.atomic and connection.features.can_rollback_ddl
    # What the linter needs to see of the operations before: that the
    # migration is one transaction, and which tables it created.
    context = ["BEGIN;"] if atomic else []
    findings = []
    for operation in migration.operations:
        before = state.clone()
        operation.state_forwards(migration.app_label, state)
        if not operation.reduces_to_sql:
            continue
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            operation.database_forwards(migration.app_label, editor, before, state)
        statements = list(editor.collected_sql)
        created = {m[1] for sql in statements if (m := CREATED_TABLE.match(sql))}
        touched = {name for sql in statements for name in NAMED_TABLE.findall(sql)}
        fresh = issue_codes(analyser, context + statements) - issue_codes(analyser, context)
        context += [sql for sql in statements if CREATED_TABLE.match(sql)]
        new_tables |= created
        if touched <= new_tables:
            continue  # only tables this deploy creates: nothing that serves uses them
        for code in sorted(fresh):
            findings.append(
                Finding(
                    migration=f"{migration.app_label}.{migration.name}",
                    operation=operation.describe(),
                    code=code,
                    problem=PROBLEMS.get(code, code),
                    advice=ADVICE.get(code, "split it into steps each release survives"),
                )
            )
    return findings


PROBLEMS = {
    "DROP_COLUMN": "drops a column",
    "DROP_TABLE": "drops a table",
    "RENAME_COLUMN": "renames a column",
    "RENAME_TABLE": "renames a table",
    "NOT_NULL": "adds a NOT NULL column without a database default",
    "ALTER_COLUMN": "changes a column's type",
    "ADD_UNIQUE": "adds a unique constraint",
    "CREATE_INDEX": "builds an index that locks the table's writes",
    "CREATE_INDEX_EXCLUSIVE": "builds an index while the transaction holds a lock",
    "DROP_INDEX": "drops an index under a lock",
    "REINDEX": "rebuilds an index under a lock",
}


def pending(connection: BaseDatabaseWrapper) -> tuple[MigrationExecutor, list[Migration]]:
    """The migrations ``migrate`` would apply now, in order."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return executor, [migration for migration, backwards in plan if not backwards]


def breaking(connection: BaseDatabaseWrapper) -> tuple[list[str], list[Finding]]:
    """(the pending migrations as app_label.name, the findings of all of them)."""
    executor, migrations = pending(connection)
    new_tables: set[str] = set()
    findings = []
    for migration in migrations:
        key = (migration.app_label, migration.name)
        state = executor.loader.project_state(key, at_end=False)
        findings += check_migration(connection, migration, state, new_tables)
    return [f"{m.app_label}.{m.name}" for m in migrations], findings


def refusal(findings: list[Finding]) -> str:
    """Why a deploy refuses migrations with ``findings``, and the way out."""
    shown = "\n".join(f"  {finding}".replace("\n", "\n  ") for finding in findings)
    return (
        f"{len(findings)} operation(s) of the pending migrations would break the "
        f"release that serves until the switch:\n{shown}\n"
        "Split each change into steps every release survives (expand, deploy, "
        "contract): the README's section on migrations shows how."
    )
