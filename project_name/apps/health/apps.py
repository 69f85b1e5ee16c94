from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "{{ project_name }}.apps.health"
    label = "health"
    verbose_name = "Health"
