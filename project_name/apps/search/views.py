import logging

from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .backends import MissingIndexError, TransientSearchError, get_backend
from .registry import documents

logger = logging.getLogger(__name__)

# Elasticsearch refuses pages reaching past this many hits (index.max_result_window);
# every backend keeps the same limit so the API does not change with the backend.
MAX_RESULT_WINDOW = 10_000

# The answers name no host or port: anyone may call this API. The log has the details.
UNAVAILABLE = "Search is unavailable; try again later."
NO_INDEX = "Search is unavailable: its index does not exist yet. Run ./manage create_indexes."


class SearchParameters(serializers.Serializer):
    q = serializers.CharField(max_length=200, trim_whitespace=True)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_RESULT_WINDOW, default=0)

    def validate(self, data):
        """Refuse pages past the result window, whatever backend serves them."""
        if data["offset"] + data["limit"] > MAX_RESULT_WINDOW:
            raise serializers.ValidationError(
                f"offset + limit must not exceed {MAX_RESULT_WINDOW}."
            )
        return data


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
        except MissingIndexError:
            logger.warning("Search failed: an index is missing", exc_info=True)
            return Response({"detail": NO_INDEX}, status=503)
        except TransientSearchError:
            logger.warning("Search failed: the search service did not answer", exc_info=True)
            return Response({"detail": UNAVAILABLE}, status=503)
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
