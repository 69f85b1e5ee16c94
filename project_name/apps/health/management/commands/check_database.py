from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from ...schema import check_schema


class Command(BaseCommand):
    help = (
        "Check that the database serves this code: the system checks with the database's, "
        "every migration applied, every model's table and columns readable. The backups' "
        "restore check runs it against a restored copy."
    )
    # Run in handle, with the database's own checks, which the default leaves out.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, database: str, **options) -> None:
        self.check(databases=[database])
        report = check_schema(connections[database])
        self.stdout.write(f"{'model':<32} {'table':<32} {'rows':>10}")
        for label, table, rows in report.tables:
            self.stdout.write(f"{label:<32} {table:<32} {rows:>10}")
        if report.problems:
            raise CommandError(
                "the database does not serve this code:\n" + "\n".join(report.problems)
            )
        self.stdout.write(
            f"{report.applied} migrations applied, none missing; {len(report.tables)} tables read"
        )
