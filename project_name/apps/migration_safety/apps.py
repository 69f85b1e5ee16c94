from django.apps import AppConfig


class MigrationSafetyConfig(AppConfig):
    name = "{{ project_name }}.apps.migration_safety"
    label = "migration_safety"
    verbose_name = "Migration safety"
