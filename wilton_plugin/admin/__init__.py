"""The admin API: JWT login, status, runtime target/weights/bias, audited (see README, "Admin API")."""

from wilton_plugin.admin.api import AdminApi, mount_admin_routes
from wilton_plugin.admin.config import AdminConfig, load_admin_config

__all__ = ["AdminApi", "AdminConfig", "load_admin_config", "mount_admin_routes"]
