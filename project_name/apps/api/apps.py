from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "{{ project_name }}.apps.api"
    label = "api"
    verbose_name = "API"
