"""Operations: the admins' API health page (``/ops/``) and its "Test connection", the record of
API calls every process writes, Prometheus metrics (``/metrics``), liveness and readiness
(``/healthz``, ``/readyz``). See docs/operations.md."""
