from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal.roles import grant_role_permissions

        # Permissions for models of later migrations exist only after migrate has run, so the
        # role groups are brought up to date at the end of every migrate.
        post_migrate.connect(grant_role_permissions, dispatch_uid="portal.grant_role_permissions")
