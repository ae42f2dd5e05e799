"""Settings of the example: no database, one cache, the puppy-proxy one."""
import os

SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "shop.urls"
INSTALLED_APPS = ["shop"]
DATABASES = {}
USE_TZ = True

CACHES = {
    "default": {
        # The one line that changes when moving from django-puppy-cache ("puppy.redis.PuppyCache").
        "BACKEND": "puppy_cache.django.PuppyCache",
        "LOCATION": os.environ.get("PUPPY_PROXY_URL", "redis://127.0.0.1:6380/0"),
        "TIMEOUT": 300,
    }
}
