from importlib import import_module

Migration = import_module("{{ project_name }}.apps.articles.migrations.0001_initial").Migration
