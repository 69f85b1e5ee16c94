from rest_framework import serializers

from .models import User


class UserSerializer(serializers.ModelSerializer):
    """What the API shows of a user; passwords never leave the server."""

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff", "date_joined"]
        read_only_fields = fields
