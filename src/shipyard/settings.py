"""One typed settings tree, read from ``SHIPYARD_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DELIVERY_RETRY_DELAYS",
    "LogFormat",
    "Settings",
    "default_cache_dir",
    "default_data_dir",
    "shared_state_url",
]

LogFormat = Literal["console", "json"]

DELIVERY_RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Seconds before each retry of a webhook delivery (Standard Webhooks' usual schedule):
the last of 8 tries comes 27.6 hours after the first."""


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "shipyard"


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "shipyard"


_PQ_PARAMETERS = frozenset(
    {"host", "port", "sslmode", "sslcert", "sslkey", "sslrootcert", "connect_timeout"}
)


def shared_state_url(database_url: str) -> str | None:
    """The Pulumi ``postgres://`` backend in the same PostgreSQL database as the store
    (table ``pulumi_state``), or None: not PostgreSQL, or the URL carries a password.

    A password stays out of the state URL, which Pulumi repeats in its error messages
    (and so in deployments' errors): give it as ``PGPASSWORD`` or a ``PGPASSFILE``,
    which both psycopg and Pulumi's driver read. Only connection parameters both drivers
    know are carried; ``sslmode`` defaults to ``prefer`` (psycopg's default, where
    Pulumi's driver would require TLS).
    """
    parts = urlsplit(database_url)
    if parts.scheme.partition("+")[0] not in ("postgresql", "postgres") or parts.password:
        return None
    query = {k: v for k, v in parse_qsl(parts.query) if k in _PQ_PARAMETERS}
    query.setdefault("sslmode", "prefer")
    query["table"] = "pulumi_state"
    return urlunsplit(("postgres", parts.netloc, parts.path, urlencode(query), ""))


class Settings(BaseSettings):
    """Everything Shipyard reads from its environment.

    Each field is also the variable ``SHIPYARD_<FIELD>``, e.g. ``SHIPYARD_DATA_DIR``.
    """

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", extra="ignore", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    """Where Shipyard keeps its database, Pulumi state, work dirs and secrets."""

    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Rebuildable things: the Pulumi CLI built from source, git mirrors."""

    pulumi: Path | None = None
    """An explicit Pulumi CLI binary; otherwise PATH, then the cache, then a build."""

    backend_url: str | None = None
    """Pulumi state backend. Any Pulumi URL works. Default: the ``pulumi_state`` table of
    ``database_url`` when that is a PostgreSQL URL without a password (so a cluster
    shares one server; see :func:`shared_state_url`), else ``file://<data_dir>/state``."""

    secrets_provider: str | None = None
    """Pulumi secrets provider, e.g. ``gcpkms://...``; default: a generated passphrase."""

    container_engine: str | None = None
    """``docker`` or ``podman`` (or a path to either); default: whichever works."""

    container_host: str | None = None
    """The local target's container engine on another machine (a container host): its
    API's URL, given to docker as ``DOCKER_HOST`` and to podman as ``CONTAINER_HOST``
    (e.g. ``ssh://core@10.0.0.5/run/podman/podman.sock`` for ``podman system service``,
    ``tcp://10.0.0.5:2375``); default: the engine of this machine. Set
    ``container_engine`` with it (detection asks the local engine)."""

    registry: str | None = None
    """Image registry (``host[:port]``) the local target pushes builds to; default: none,
    images stay in the container engine as
    ``localhost/<instance>/<namespace>/<component>:<tag>`` (``<data_dir>/instance-id``)."""

    gcp_cloud_build_endpoint: str | None = None
    """The Cloud Build API endpoint of the ``gcp`` target (e.g. ``http://127.0.0.1:8080``
    for a fake in tests); default: Google's. Credentials always come from ADC."""

    gcp_build_poll_interval: float = Field(default=3.0, gt=0)
    """Seconds between two reads of a running Cloud Build build (``gcp`` deploys)."""

    tag_poll_interval: float | None = Field(default=None, gt=0)
    """Seconds between two polls of a component's git tags; default: 5 s for a local
    repository, 60 s for a remote one."""

    proxy_admin_url: str | None = None
    """Admin API of a Caddy already running (e.g. ``http://127.0.0.1:2019``); default:
    Shipyard starts and supervises its own Caddy."""

    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite in the data dir."""

    host: str = "127.0.0.1"
    """Address ``shipyard serve`` listens on; ``0.0.0.0`` for every interface."""

    port: int = Field(default=8000, ge=0, le=65535)
    """Port ``shipyard serve`` listens on; 0 picks a free one."""

    platform: Path | None = None
    """The platform team's ``platform.yaml``: its environments are synced at start."""

    workers: int = Field(default=1, ge=0)
    """Job workers ``shipyard serve`` runs next to the API; 0 for an API-only server."""

    backstage_url: str | None = None
    """The Backstage backend (e.g. ``https://backstage.example.com``) that
    ``POST /api/v1/components/sync`` reads when the request names no catalog."""

    backstage_token: str | None = None
    """Bearer token sent to ``backstage_url`` (a Backstage static/service token); never sent
    to a catalog URL a request names instead. A plain string, not ``SecretStr``: job
    children rebuild the settings from ``model_dump(mode="json")``, which would mask it."""

    source_roots: list[Path] = Field(default_factory=list)
    """Folders on the server under which components may be registered by path (``POST
    /api/v1/components {"path"}``, a local ``shipyard.dev/source``); empty: none may be.
    A JSON list, e.g. ``SHIPYARD_SOURCE_ROOTS='["/srv/repos"]'``."""

    backstage_catalog_urls: list[str] = Field(default_factory=list)
    """Backstage backends ``POST /api/v1/components/sync`` may read besides
    ``backstage_url``; a request naming any other URL is refused. A JSON list."""

    webhook_secret: str | None = None
    """The installation's webhook secret: GitHub's ``X-Hub-Signature-256`` key, GitLab's
    ``X-Gitlab-Token``, and (``whsec_<base64>``, or any string as raw key bytes) the
    Standard Webhooks key of ``/api/v1/hooks/generic`` and ``/hooks/backstage``; accepted
    for every component besides the component's own (``shipyard webhook secret set``)."""

    backstage_sync_interval: float = Field(default=300.0, ge=0)
    """Seconds between two syncs of ``backstage_url``'s catalog by ``shipyard serve``
    (new components registered, changed ones updated, removed ones marked orphaned); 0:
    never (``shipyard component sync`` and ``/api/v1/hooks/backstage`` still do)."""

    oidc_issuer: str | None = None
    """An OpenID Connect issuer (its ``/.well-known/openid-configuration`` is read): bearer
    JWTs it signs are accepted, and people sign in to the Web UI through it. Also a
    Backstage backend's ``<backstage>/api/auth`` for Backstage user tokens."""

    oidc_audience: str | None = None
    """The ``aud`` a JWT must carry; default: ``oidc_client_id``."""

    oidc_groups_claim: str = "groups"
    """The claim listing a person's groups; they become the person's teams (a Backstage
    token's ownership refs in ``ent`` are read as well)."""

    oidc_role_map: dict[str, str] = Field(default_factory=dict)
    """Group -> role (``viewer``, ``deployer``, ``admin``), a JSON object; a person gets the
    highest role any of their groups maps to, else ``viewer``."""

    oidc_client_id: str | None = None
    """The Web UI's OIDC client (authorization code flow with PKCE)."""

    oidc_client_secret: str | None = None
    """The Web UI client's secret, for a confidential client; never logged or shown."""

    on_behalf_secret: str | None = Field(default=None, min_length=32)
    """The HS256 key of on-behalf-of assertions (``X-Shipyard-On-Behalf-Of``): a service
    holding it and an API token acts for the person an assertion names (the Backstage
    backend plugin, ``shipyard.onBehalfSecret``); unset: no assertion is accepted. At least
    32 characters (``openssl rand -base64 48``); never logged or shown."""

    on_behalf_issuer: str = "backstage"
    """The ``iss`` on-behalf-of assertions carry; people they name are ``<iss>#<ref>``."""

    on_behalf_services: list[str] = Field(default_factory=list)
    """Users whose API tokens act only for people (a JSON list, e.g. ``'["backstage"]'``):
    their requests must carry an on-behalf-of assertion, and no other token's may."""

    delivery_allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)
    """Networks a subscription's URL may point into besides the public internet (loopback,
    private, link-local addresses such as the 169.254.169.254 metadata service are refused
    otherwise), as a JSON list of CIDRs, e.g. ``'["10.20.0.0/16", "127.0.0.1/32"]'``."""

    delivery_timeout: float = Field(default=10.0, gt=0)
    """Seconds a webhook delivery waits for its receiver's answer (connect and read)."""

    delivery_ca_bundle: Path | None = None
    """A PEM file of the certificate authorities an https receiver's certificate may come
    from (an internal CA); default: the public ones (certifi)."""

    delivery_retry_delays: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: list(DELIVERY_RETRY_DELAYS)
    )
    """Seconds before each retry of a webhook delivery that was not answered 2xx (a JSON
    list; its length is the number of retries); default: 5 s, 5 min, 30 min, 2 h, 5 h,
    10 h, 10 h (8 tries over 27.6 hours)."""

    log_format: LogFormat = "console"
    """``console`` (coloured, for people) or ``json`` (one object a line, for collectors)."""

    @property
    def state_backend_url(self) -> str:
        if self.backend_url:
            return self.backend_url
        local = self.data_dir / "state"
        if not (local / ".pulumi").exists():  # this host's existing state stays put
            shared = shared_state_url(self.database_url) if self.database_url else None
            if shared is not None:
                return shared
        return local.resolve().as_uri()

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'shipyard.db').resolve()}"
