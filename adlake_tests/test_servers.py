"""The real database servers that connector tests run against start, serve and isolate tests."""

from __future__ import annotations

from adlake_tests.servers import MariaDbServer, PgServer


def test_postgres_is_ready_for_logical_replication(pg_server: PgServer, pg_database: str) -> None:
    with pg_server.connect(pg_database) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW wal_level")
        assert cursor.fetchone() == ("logical",)
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone() == (pg_database,)
        cursor.execute("SELECT pg_create_logical_replication_slot('probe', 'pgoutput')")
    connection.close()
    assert pg_server.dsn(pg_database).endswith(f":{pg_server.port}/{pg_database}")


def test_each_postgres_test_gets_its_own_database(pg_server: PgServer, pg_database: str) -> None:
    with pg_server.connect(pg_database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_replication_slots")
        assert cursor.fetchone() == (0,)  # the previous test's slot went with its database
    connection.close()


def test_mariadb_writes_a_row_binlog(mariadb_server: MariaDbServer, mariadb_database: str) -> None:
    connection = mariadb_server.connect(mariadb_database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata"
            )
            assert cursor.fetchone() == (1, "ROW", "FULL", "FULL")
            cursor.execute("SELECT DATABASE()")
            assert cursor.fetchone() == (mariadb_database,)
    finally:
        connection.close()
