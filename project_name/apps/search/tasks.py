from celery import shared_task

from .backends import TransientSearchError, get_backend
from .registry import document_for


@shared_task(
    autoretry_for=(TransientSearchError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def sync_search_document(label, pk):
    """Bring the index in line with one row: store it if it exists, drop it if not.

    It reads the row when it runs, so tasks that arrive late or out of order
    still leave the index matching the table.
    """
    document = document_for(label)
    backend = get_backend()
    obj = document.get_queryset().filter(pk=pk).first()
    if obj is None:
        backend.remove(document, [pk])
    else:
        backend.update(document, [obj])
