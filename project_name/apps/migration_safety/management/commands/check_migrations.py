from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from ...plan import breaking


class Command(BaseCommand):
    help = (
        "Refuse the pending migrations that the release serving during a deploy could not "
        "survive (a dropped or renamed column, NOT NULL without a default, a locking index "
        "build ...), naming each migration and operation and how to split it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, database, **options):
        count, findings = breaking(connections[database])
        if findings:
            shown = "\n".join(f"  {finding}".replace("\n", "\n  ") for finding in findings)
            raise CommandError(
                f"{len(findings)} operation(s) of the pending migrations would break the "
                f"release that serves until the switch:\n{shown}\n"
                "Split each change into steps every release survives (expand, deploy, "
                "contract): the README's section on migrations shows how."
            )
        self.stdout.write(
            f"{count} pending migration(s), none that the serving release could not survive"
        )
