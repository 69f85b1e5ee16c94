"""The JSON API: one router for every app's viewsets, and token login."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from ..articles.views import ArticleViewSet
from ..search.views import SearchView
from ..users.views import UserViewSet
from .views import TokenLogin

router = DefaultRouter()
router.register("users", UserViewSet, basename="user")
router.register("articles", ArticleViewSet, basename="article")

urlpatterns = [
    path("", include(router.urls)),
    path("auth/token/", TokenLogin.as_view(), name="api-token"),
    path("search/", SearchView.as_view(), name="api-search"),
]
