import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from ...plan import breaking, refusal


class Command(BaseCommand):
    help = (
        "Refuse the pending migrations that the release serving during a deploy could not "
        "survive (a dropped or renamed column, NOT NULL without a default, a locking index "
        "build ...), naming each migration and operation and how to split it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="print the pending migrations and the refusal (null when none) as JSON, "
            "refusing nothing: for the deploy, which may be told to let them through",
        )

    def handle(self, *args, database: str, as_json: bool, **options) -> None:
        migrations, findings = breaking(connections[database])
        refused = refusal(findings) if findings else None
        if as_json:
            self.stdout.write(json.dumps({"pending": migrations, "refusal": refused}))
        elif refused:
            raise CommandError(refused)
        else:
            self.stdout.write(
                f"{len(migrations)} pending migration(s), none that the serving release could "
                "not survive"
            )
