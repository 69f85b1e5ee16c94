from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .report import health_report


@never_cache
@require_safe
def health(request):
    """Per-component status as JSON: 200 when every required component answers, else 503."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """200 while this process serves requests: what a load balancer asks, often.

    Touches no database, cache or broker, and says no version: cheap to ask
    and safe to answer anyone. /health/, the detailed report, is for the
    deploy and for the addresses nginx lets see it.
    """
    return JsonResponse({"status": "ok"})
