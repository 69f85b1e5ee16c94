from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .backends import TransientSearchError, get_backend
from .registry import documents


class SearchParameters(serializers.Serializer):
    q = serializers.CharField(max_length=200, trim_whitespace=True)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    offset = serializers.IntegerField(min_value=0, max_value=10_000, default=0)


class SearchView(APIView):
    """Search every searchable model: ``?q=words&limit=20&offset=0``.

    The answer has the same shape whichever backend serves it:
    ``{"query", "backend", "count", "limit", "offset", "results": [{"type", "id",
    "title", "score"}]}``, best match first.
    """

    permission_classes = [permissions.AllowAny]

    def get(self, request):
        parameters = SearchParameters(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        query, limit, offset = (parameters.validated_data[k] for k in ("q", "limit", "offset"))
        try:
            found = get_backend().search(query, documents(), limit=limit, offset=offset)
        except TransientSearchError as exc:
            return Response({"detail": f"Search is unavailable: {exc}"}, status=503)
        return Response(
            {
                "query": query,
                "backend": found.backend,
                "count": found.count,
                "limit": limit,
                "offset": offset,
                "results": found.results,
            }
        )
