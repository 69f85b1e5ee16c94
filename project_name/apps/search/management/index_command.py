from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ..backends import SearchIndexError, TransientSearchError, get_backend
from ..registry import documents


class IndexCommand(BaseCommand):
    """Runs one index operation of the configured backend over every searchable model."""

    operation = ""

    def handle(self, *args, **options):
        backend = get_backend()
        try:
            lines = getattr(backend, self.operation)(documents())
        except TransientSearchError as exc:
            raise CommandError(
                f"{exc}. Check that the search server at {settings.SEARCH['OPTIONS'].get('url')} "
                "runs (ELASTICSEARCH_URL), then try again."
            ) from exc
        except SearchIndexError as exc:
            raise CommandError(str(exc)) from exc
        for line in lines:
            self.stdout.write(line)
