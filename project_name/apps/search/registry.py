"""The searchable models. Each app registers its documents in AppConfig.ready()."""

from django.db.models.signals import post_delete, post_save

_documents = {}


def register(document):
    """Make ``document`` searchable and keep its index in sync with its table."""
    from .signals import schedule_sync

    _documents[document.model._meta.label_lower] = document
    uid = f"search:{document.model._meta.label_lower}"
    post_save.connect(schedule_sync, sender=document.model, dispatch_uid=uid)
    post_delete.connect(schedule_sync, sender=document.model, dispatch_uid=uid)


def documents():
    """Every registered document, in registration order."""
    return list(_documents.values())


def document_for(label):
    """The document of the model labelled ``label`` (``app_label.modelname``)."""
    try:
        return _documents[label]
    except KeyError:
        raise LookupError(f"{label} is not a searchable model") from None
