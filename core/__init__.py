"""The foundation every app builds on, as Django keeps its helpers in ``django.utils`` rather than
in an app: roles, the audit log and its writer, request ids, database helpers, keyset paging, CSV
writing, form rendering, the shared admin base, the htmx request type and the zero-touch client
factory. It imports no app of the project (import-linter's layers contract keeps it so)."""
