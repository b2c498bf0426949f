"""Development tools, apart from the product: the benchmarks, the chaos run, the load test and the
demo's invented history, with the management commands that run them (``zt_bench``, ``reports_bench``,
``demo_setup``). Installed only with ``DEBUG`` on or ``PORTAL_DEV_TOOLS=1``; no product package
imports it."""
