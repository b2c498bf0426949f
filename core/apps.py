"""The foundation's Django app, installed under the label the project has always used: ``portal``.

The audit log and the role groups were first made by an app named ``portal``, and a label is what
the database and Django's bookkeeping remember of an app: the table ``portal_auditevent``, the rows
of ``django_migrations`` (app ``portal``, migrations 0001-0004, moved here unchanged), the content
type and the permission codenames (``portal.view_auditevent``, granted to managers by
``core.roles``), and the admin's URLs (``/admin/portal/auditevent/``). Keeping ``label = "portal"``
keeps all of them as they are, so that moving the code changed nothing in any database. The
``portal`` package itself is now the Django project (settings, root URLs, the Celery app), not an
installed app, so the label is free for this one.
"""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    label = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from core.roles import grant_role_permissions  # needs the auth models, loaded by now

        # Permissions for models of later migrations exist only after migrate has run, so the
        # role groups are brought up to date at the end of every migrate.
        post_migrate.connect(grant_role_permissions, dispatch_uid="portal.grant_role_permissions")
