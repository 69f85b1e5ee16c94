"""Where a deploy goes: one Target per environment, configured in fabfile.py."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A set of servers running one settings environment."""

    name: str
    # SSH destinations, as "deploy@host": the deploy user provisioning creates
    # (deploy_user_name). Deploys refuse to run as root.
    hosts: list
    # The host names the site answers to: nginx's server_name. Keep them the
    # DJANGO_ALLOWED_HOSTS provisioning writes (app_server_names).
    server_names: list
    # The settings environment the release selects (conf/environment.py.j2).
    environment: str = "deployment"
    # Where releases and their virtualenvs live: the deploy user's folder.
    root: str = "/srv/{{ project_name }}"
    # The user the app server and the worker run as (provisioning creates it).
    user: str = "{{ project_name }}"
    # The server side the provisioning roles set up; keep them the same as
    # app_env_file, app_log_dir, app_runtime_dir and app_media_root there.
    env_file: str = "/etc/{{ project_name }}/env"
    log_dir: str = "/var/log/{{ project_name }}"
    runtime_dir: str = "/run/{{ project_name }}"
    media_root: str = "/var/lib/{{ project_name }}/media"
    # The one program the deploy user may run as root (roles/deploy_user).
    helper: str = "/usr/local/lib/{{ project_name }}/deploy_helper.py"
    # The backup program the deploy user may run as root (roles/backup).
    backup_program: str = "/usr/local/lib/{{ project_name }}/backup.py"
    requirements: str = "requirements/deployment.txt"
    # Production only gets builds of a commit: no --dirty build (build.py).
    production: bool = True
    # Releases kept on the server, the current one included.
    keep_releases: int = 5
    # Addresses (or networks, as nginx's allow takes them) besides the host
    # itself that may see /health/, the detailed report with the release's
    # version: monitoring elsewhere. Load balancers ask /health/live/ instead,
    # which anyone may.
    health_allow: list = field(default_factory=list)
    # Extra Jinja2 context for the conf/ templates.
    context: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.keep_releases < 1:
            raise ValueError(
                f"target {self.name!r}: keep_releases must be 1 or more (the current release "
                f"counts), not {self.keep_releases}"
            )

    @property
    def deploy_log_dir(self) -> str:
        """The deploy user's own logs: pip, collectstatic and migrate."""
        return f"{self.log_dir}/deploy"

    def release_path(self, release):
        """Where ``release`` lives on the server."""
        return f"{self.root}/releases/{release}"
