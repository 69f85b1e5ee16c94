from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "{{ project_name }}.apps.articles"
    label = "articles"
    verbose_name = "Articles"

    def ready(self):
        from ..search.registry import register
        from .search import ArticleDocument

        register(ArticleDocument())
