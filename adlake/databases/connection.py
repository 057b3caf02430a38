"""A database connection URL read from the secrets resource, split the way each driver wants it.

The URL (``postgresql://user:password@host:5432/db`` or ``mysql://user:password@host:3306/db``)
carries a password, so it is kept only in memory: its repr and every error show the URL with
the password masked, and messages name the secret, never its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
MYSQL_SCHEMES = ("mysql", "mariadb")


class ConnectionUrlError(ValueError):
    """The secret does not hold a usable connection URL; the message names the secret."""


@dataclass(frozen=True)
class DatabaseUrl:
    """The parts of a connection URL; ``url`` is the libpq URI as given (PostgreSQL)."""

    kind: str
    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)
    url: str = field(repr=False)

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.masked})"

    @property
    def masked(self) -> str:
        """The URL with the password replaced by ``***``: safe for logs and metadata."""
        scheme = "postgresql" if self.kind == "postgres" else "mysql"
        return f"{scheme}://{self.user}:***@{self.host}:{self.port}/{self.database}"

    def mysql_settings(self) -> dict[str, object]:
        """Keyword arguments for ``pymysql.connect`` (and the binlog reader)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "connect_timeout": 10,
        }


def parse_database_url(value: str, kind: str, secret: str) -> DatabaseUrl:
    """Parse the URL held by secret ``secret`` for a ``kind`` (postgres|mysql) source."""
    expected = POSTGRES_SCHEMES if kind == "postgres" else MYSQL_SCHEMES
    example = (
        "postgresql://user:password@host:5432/database"
        if kind == "postgres"
        else "mysql://user:password@host:3306/database"
    )
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in expected or not parts.hostname:
        raise ConnectionUrlError(
            f"secret {secret!r} does not hold a {kind} connection URL: store one like {example}"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConnectionUrlError(
            f"the connection URL in secret {secret!r} names no database: end it with /database"
        )
    return DatabaseUrl(
        kind=kind,
        host=parts.hostname,
        port=port or (5432 if kind == "postgres" else 3306),
        user=unquote(parts.username or ""),
        database=database,
        password=unquote(parts.password or ""),
        url=value.strip(),
    )
