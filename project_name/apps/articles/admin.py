from django.contrib import admin

from .models import Article


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "created_at"]
    list_select_related = ["author"]
    search_fields = ["title"]
    raw_id_fields = ["author"]
