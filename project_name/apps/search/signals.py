"""Saving or deleting a searchable row schedules the task that syncs its index."""

from django.db import transaction

from .backends import get_backend


def schedule_sync(sender, instance, **kwargs):
    # Backends that query the tables directly have no index to keep.
    if not get_backend().keeps_index:
        return
    from .tasks import sync_search_document

    label, pk = sender._meta.label_lower, instance.pk
    # After commit, so the worker reads the committed row. robust: a broker
    # outage must not fail a save that already happened; rebuild_indexes heals.
    transaction.on_commit(lambda: sync_search_document.delay(label, pk), robust=True)
