"""The Celery app: ``celery -A {{ project_name }} worker`` runs its workers.

Configuration comes from the Django settings named CELERY_*; tasks are found
in each installed app's ``tasks`` module.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ project_name }}.settings")

app = Celery("{{ project_name }}")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
