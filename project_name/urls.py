"""URL configuration: the admin, the JSON API and the health checks."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .apps.users.throttles import throttle_login

urlpatterns = [
    # The admin's own login view with login attempts limited, as the API's
    # token login is. Listed before admin.site.urls, whose login/ it replaces.
    path("admin/login/", throttle_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/", include("{{ project_name }}.apps.api.urls")),
    path("health/", include("{{ project_name }}.apps.health.urls")),
]

if "debug_toolbar" in settings.INSTALLED_APPS:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
