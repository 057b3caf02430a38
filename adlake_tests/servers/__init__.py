"""Real database servers for tests: PostgreSQL 15 and MariaDB 10.11 on loopback.

Each server runs from a temporary folder on a free port and is stopped and removed afterwards.
:mod:`adlake_tests.servers.fixtures` wraps them as pytest fixtures (``pg_server``,
``pg_database``, ``mariadb_server``, ``mariadb_database``). ``python -m adlake_tests.servers``
(:mod:`adlake_tests.servers.tryout`) starts one with sample data for the docs' examples.
"""

from adlake_tests.servers.mariadb import MariaDbServer, running_mariadb
from adlake_tests.servers.postgres import PgServer, running_postgres

__all__ = ["MariaDbServer", "PgServer", "running_mariadb", "running_postgres"]
