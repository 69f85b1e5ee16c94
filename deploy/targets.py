"""Where a deploy goes: one Target per environment, configured in fabfile.py."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A set of servers running one settings environment."""

    name: str
    # SSH destinations, as "user@host" or "host" (user root).
    hosts: list
    # The host names the site answers to: nginx's server_name. Keep them the
    # DJANGO_ALLOWED_HOSTS provisioning writes (app_server_names).
    server_names: list
    # The settings environment the release selects (conf/environment.py.j2).
    environment: str = "deployment"
    root: str = "/srv/{{ project_name }}"
    # The user the app server and the worker run as (provisioning creates it).
    user: str = "{{ project_name }}"
    requirements: str = "requirements/deployment.txt"
    # Releases kept on the server, the current one included.
    keep_releases: int = 5
    # Extra Jinja2 context for the conf/ templates.
    context: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.keep_releases < 1:
            raise ValueError(
                f"target {self.name!r}: keep_releases must be 1 or more (the current release "
                f"counts), not {self.keep_releases}"
            )

    @property
    def env_file(self):
        return f"{self.root}/shared/env"

    def release_path(self, release):
        """Where ``release`` lives on the server."""
        return f"{self.root}/releases/{release}"
