"""One view, cached with stale-while-revalidate: when the report's freshness (60 s) runs out,
exactly one request rebuilds it while every other request is answered with the previous one."""
import time

from django.core.cache import cache
from django.http import JsonResponse

BUILDS = []  # (report_id, cache key): which builds ran, for the tests


def build_report(report_id, made_key):
    BUILDS.append((report_id, made_key))
    time.sleep(0.05)  # the expensive part
    return {"id": report_id, "total": report_id * 100, "built_at": time.time()}


def report(request, report_id):
    data = cache.pget(f"report:{report_id}", lambda made_key: build_report(report_id, made_key),
                      timeout=60, update_time=10)
    return JsonResponse(data)
