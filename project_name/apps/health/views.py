from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .report import health_report


@never_cache
@require_safe
def health(request):
    """Per-component status as JSON: 200 when every required component answers, else 503."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
