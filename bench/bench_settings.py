"""The site's settings plus one bench-only URL, `/bench/floor`: a one-line view behind the same
middleware as every page (the framework floor; bench/run.py and bench/profile_requests.py
measure it beside the dashboard). Used only by the benchmark (bench/ on sys.path)."""

from flightsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
