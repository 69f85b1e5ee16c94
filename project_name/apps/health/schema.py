"""Does a database hold what this code needs? For a restored copy, before it is trusted."""

from dataclasses import dataclass, field

from django.apps import apps
from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor


@dataclass
class SchemaReport:
    """What a database holds of the code's models, and what it lacks."""

    applied: int = 0
    # (model label, table, rows) for each table read.
    tables: list[tuple[str, str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_schema(connection: BaseDatabaseWrapper) -> SchemaReport:
    """Every migration applied, and every model's table readable with all its columns.

    Reading one row through the model selects each of its columns, so a table
    or column the code has and the database lacks is a problem found here,
    not by the first request.
    """
    report = SchemaReport()
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    report.applied = len(executor.loader.applied_migrations)
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending)
        report.problems.append(
            f"{len(pending)} migration(s) of this code not applied: {names}; the database "
            "is older than the code (migrate it, or restore a later time)"
        )
    # With the tables Django makes for many-to-many fields.
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy:
            continue
        rows = model._base_manager.using(connection.alias).order_by()
        try:
            # A savepoint: a failed read leaves the connection usable for the next.
            with transaction.atomic(using=connection.alias):
                list(rows[:1])
                report.tables.append((meta.label, meta.db_table, rows.count()))
        except DatabaseError as error:
            first = str(error).strip().splitlines()[0]
            report.problems.append(f"{meta.label} (table {meta.db_table}): {first}")
    return report
