"""The example's view through Django's test client, against a real puppy-proxy."""
import threading
import uuid

from django.core.cache import cache
from django.test import SimpleTestCase

from . import views


class ReportViewTest(SimpleTestCase):
    def setUp(self):
        self.report_id = uuid.uuid4().int % 1_000_000_000
        cache.delete(f"report:{self.report_id}")
        views.BUILDS.clear()

    def get(self):
        response = self.client.get(f"/report/{self.report_id}")
        self.assertEqual(response.status_code, 200)
        return response.json()

    def test_the_report_is_built_once_then_served_from_the_cache(self):
        first = self.get()
        self.assertEqual(first["total"], self.report_id * 100)
        self.assertEqual(self.get(), first)
        self.assertEqual(views.BUILDS, [(self.report_id, cache.make_key(f"report:{self.report_id}"))])

    def test_after_invalidation_one_request_rebuilds_and_the_rest_get_the_old_report(self):
        old = self.get()
        self.assertTrue(cache.pinvalidate(f"report:{self.report_id}"))
        results = []
        threads = [threading.Thread(target=lambda: results.append(self.get())) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 10)
        self.assertEqual(len(views.BUILDS), 2)  # the first build and exactly one rebuild
        rebuilt = self.get()
        self.assertNotEqual(rebuilt["built_at"], old["built_at"])
        # The rebuilding request got the new report; the others got the old or the new one.
        self.assertIn(rebuilt, results)
        self.assertEqual([r for r in results if r not in (old, rebuilt)], [])
