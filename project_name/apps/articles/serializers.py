from rest_framework import serializers

from .models import Article


class ArticleSerializer(serializers.ModelSerializer):
    """An article; the author is whoever created it."""

    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Article
        fields = ["id", "title", "body", "author", "created_at", "updated_at"]
        read_only_fields = ["author", "created_at", "updated_at"]
