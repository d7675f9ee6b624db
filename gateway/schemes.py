"""The one registry of URL schemes: which implementation each seam's URL names.

    [state] url     memory://              in this process (the embedded default)
                    redis://, rediss://, unix://   one Redis, shared by every process
                    redis+cluster://host:port[,host:port...]   a Redis Cluster
                    rediss+cluster://host:port[,...][?ssl_ca_certs=FILE...]   one over TLS
    [storage] url   file://PATH, memory://, s3://BUCKET/PREFIX

The state's URL also chooses every store beside it (events, previews, idempotency, batches,
usage, capacity leases) and the quota storage: the `limits` storage of the same Redis
(`QUOTA_SCHEMES`). Config validation and every factory ask this module, so an unknown
scheme is refused in one way everywhere: a `ConfigError` naming the scheme and the URL.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

StateKind = Literal["memory", "redis"]
StorageKind = Literal["file", "memory", "s3"]

STATE_SCHEMES: dict[str, StateKind] = {
    "memory": "memory",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "redis+cluster": "redis",
    "rediss+cluster": "redis",
}
STORAGE_SCHEMES: dict[str, StorageKind] = {"file": "file", "memory": "memory", "s3": "s3"}
# The `limits` library's async storage for each shared state scheme (limits.aio.storage).
QUOTA_SCHEMES = {
    "redis": "async+redis",
    "rediss": "async+rediss",
    "unix": "async+unix",
    "redis+cluster": "async+redis+cluster",
    # Its client is ours (gateway/quotas.py), with the TLS settings: the URL names nodes.
    "rediss+cluster": "async+redis+cluster",
}
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
# The TLS settings a `rediss+cluster://` URL may carry in its query, as redis-py names them
# (and reads them from a `rediss://` URL): a CA bundle, a client certificate, checks.
CLUSTER_TLS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname")
CERT_REQS = ("none", "optional", "required")


class ConfigError(Exception):
    """The config is invalid; the message says where and why."""


class BadUrl(ConfigError, ValueError):
    """A seam's URL cannot be used (a ValueError too, for pydantic validators); `detail`
    is the message without the setting's name."""

    def __init__(self, seam: str, detail: str) -> None:
        super().__init__(f"{seam}.url: {detail}")
        self.detail = detail


class UnknownScheme(BadUrl):
    """A seam's URL names no implementation."""


def _scheme(url: str) -> str:
    scheme, separator, _ = url.partition("://")
    return scheme.lower() if separator else ""


def _refuse(seam: str, url: str, known: dict[str, str]) -> UnknownScheme:
    scheme = _scheme(url)
    named = f"unknown scheme {scheme!r}" if scheme else "no scheme"
    choices = ", ".join(f"{name}://" for name in known)
    return UnknownScheme(seam, f"{named} in {url!r}; use one of {choices}")


def state_kind(url: str) -> StateKind:
    """`memory` or `redis` (one node or a cluster) for a `[state] url`."""
    kind = STATE_SCHEMES.get(_scheme(url))
    if kind is None:
        raise _refuse("state", url, dict(STATE_SCHEMES))
    return kind


def is_cluster(url: str) -> bool:
    return _scheme(url) in CLUSTER_SCHEMES


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, str | bool]]:
    """The startup nodes `(host, port)` of a cluster URL and the connection options every
    node's client takes: its credentials, and for `rediss+cluster://` TLS (`_tls`).

    >>> cluster_nodes("redis+cluster://:pw@10.0.0.1:6379,10.0.0.2:6379")
    ([('10.0.0.1', 6379), ('10.0.0.2', 6379)], {'password': 'pw'})
    """
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    options: dict[str, str | bool] = {}
    if at:
        user, _, password = userinfo.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    nodes = []
    for location in filter(None, hosts.split(",")):
        host, _, port = location.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadUrl(
                "state", f"{location!r} in the cluster URL is not host:port (e.g. 10.0.0.1:6379)"
            )
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise BadUrl("state", "name the cluster's nodes: redis+cluster://host:port,...")
    return nodes, {**options, **_tls(_scheme(url) == "rediss+cluster", parts.query)}


def _tls(tls: bool, query: str) -> dict[str, str | bool]:
    """A cluster URL's TLS options: none without TLS; with it, the system's CAs unless the
    query names others (redis-py's `ssl_*` names, each once).

    >>> _tls(True, "ssl_ca_certs=/etc/ca.pem")
    {'ssl': True, 'ssl_ca_certs': '/etc/ca.pem'}
    """
    options: dict[str, str | bool] = {"ssl": True} if tls else {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name not in CLUSTER_TLS:
            known = ", ".join(CLUSTER_TLS)
            raise BadUrl("state", f"unknown cluster URL option {name!r}; known: {known}")
        if not tls:
            raise BadUrl("state", f"{name!r} is a TLS option: use rediss+cluster://")
        if len(values) != 1 or not values[0]:
            raise BadUrl("state", f"give {name!r} one value")
        options[name] = values[0]
    if options.get("ssl_cert_reqs", "required") not in CERT_REQS:
        raise BadUrl("state", f"ssl_cert_reqs is one of {', '.join(CERT_REQS)}")
    if "ssl_check_hostname" in options:
        check = str(options["ssl_check_hostname"]).lower()
        if check not in ("true", "false"):
            raise BadUrl("state", "ssl_check_hostname is true or false")
        options["ssl_check_hostname"] = check == "true"
    return options


def storage_kind(url: str) -> StorageKind:
    kind = STORAGE_SCHEMES.get(_scheme(url))
    if kind is None:
        raise _refuse("storage", url, dict(STORAGE_SCHEMES))
    return kind


def quota_scheme(url: str) -> str | None:
    """The `limits` storage scheme for the state at `url`; None for memory://."""
    if state_kind(url) == "memory":
        return None
    return QUOTA_SCHEMES[_scheme(url)]
