from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "{{ project_name }}.apps.users"
    label = "users"
    verbose_name = "Users"
