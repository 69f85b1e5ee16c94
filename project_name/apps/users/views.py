from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .models import User
from .serializers import UserSerializer


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """Users: staff see everyone, everybody else only themselves."""

    serializer_class = UserSerializer

    def get_queryset(self):
        users = User.objects.order_by("id")
        if self.request.user.is_staff:
            return users
        return users.filter(pk=self.request.user.pk)

    @action(detail=False)
    def me(self, request):
        """The user making the request."""
        return Response(self.get_serializer(request.user).data)
