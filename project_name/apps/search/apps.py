from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "{{ project_name }}.apps.search"
    label = "search"
    verbose_name = "Search"
