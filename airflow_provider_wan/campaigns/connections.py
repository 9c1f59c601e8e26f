"""Do the campaign's connection ids name connections of the right type?

Connections are looked up the way Airflow does (``AIRFLOW_CONN_*`` environment variables, the
configured secrets backends, then the metadata database when one is reachable). A connection
that exists with another type (``http`` where ``runware`` is needed) is always a problem. A
connection that is not defined is a problem only for Runware at run time, or when asked to
(``wan campaign validate --require-connections``): a CI machine rarely holds them, and
storage falls back to the machine's default credentials.

Never called while a DAG is parsed: lookups may reach a secrets backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.problems import Problem

EXPECTED_TYPES = {"runware": "runware", "gcp": "google_cloud_platform", "aws": "aws"}
_SCHEMES = {"gs://": "gcp", "s3://": "aws"}


@dataclass(frozen=True)
class ConnectionCheck:
    """What was found for one connection id."""

    kind: str
    conn_id: str
    conn_type: str | None  # None: not defined

    @property
    def expected(self) -> str:
        return EXPECTED_TYPES[self.kind]

    @property
    def ok(self) -> bool:
        return self.conn_type == self.expected


def needed_kinds(
    cf: CampaignFile, *, destination: str | None = None, items_source: str | None = None
) -> list[str]:
    """Runware, plus the storage connections that the destination and items need.

    :param destination: the run's destination, when it is not the campaign's.
    :param items_source: the run's items source, when it is not the campaign's.
    """
    kinds = ["runware"]
    sources = [destination or cf.spec.destination, items_source or cf.spec.items.source or ""]
    for scheme, kind in _SCHEMES.items():
        if any(source.startswith(scheme) for source in sources) and kind not in kinds:
            kinds.append(kind)
    return kinds


def lookup_type(conn_id: str) -> str | None:
    """The type of connection *conn_id*, or None when it is not defined anywhere."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return str(BaseHook.get_connection(conn_id).conn_type or "")
    except AirflowNotFoundException:
        return None


def check_connections(
    cf: CampaignFile,
    kinds: list[str],
    *,
    require: frozenset[str] = frozenset({"runware"}),
    lookup: Callable[[str], str | None] = lookup_type,
) -> tuple[list[ConnectionCheck], list[Problem]]:
    """Look up each needed connection; problems for a wrong type, or a missing required one."""
    checks: list[ConnectionCheck] = []
    problems: list[Problem] = []
    for kind in kinds:
        conn_id = getattr(cf.spec.connections, kind)
        check = ConnectionCheck(kind, conn_id, lookup(conn_id))
        checks.append(check)
        key = f"connections.{kind}"
        if check.conn_type is None:
            if kind in require:
                problems.append(
                    cf.problem(
                        ("connections", kind),
                        key,
                        f"connection {conn_id!r} is not defined (expected type {check.expected!r})",
                    )
                )
        elif not check.ok:
            problems.append(
                cf.problem(
                    ("connections", kind),
                    key,
                    f"connection {conn_id!r} is of type {check.conn_type!r}, not "
                    f"{check.expected!r}",
                )
            )
    return checks, problems
