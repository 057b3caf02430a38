"""A real SFTP server for tests: asyncssh's, in-process, serving one folder as its root.

It runs on its own event loop in a background thread (so blocking clients in the test thread
work), on a free loopback port, with a host key and an ed25519 client key generated per run and a
password user. The client's known_hosts file is written next to nothing the server serves.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from adlake_tests.servers._process import free_port

USERNAME = "adlake"
# the fastest cipher of asyncssh on both ends of one process (~105 MB/s, chacha20 ~50 MB/s)
ENCRYPTION = ("aes128-ctr",)


@dataclass
class SftpServer:
    """Where the SFTP server listens and how to log in; ``auth_attempts`` lists user names."""

    host: str
    port: int
    username: str
    password: str
    client_private_key: str
    known_hosts: Path
    root: Path
    auth_attempts: list[str] = field(default_factory=list)


class _SshServer(asyncssh.SSHServer):
    """Password and public-key login for one user; records every user that starts to log in."""

    def __init__(self, server: SftpServer, connections: list[asyncssh.SSHServerConnection]) -> None:
        self._server = server
        self._connections = connections

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Keep the connection, to close it when the server stops."""
        self._connections.append(conn)

    def begin_auth(self, username: str) -> bool:
        """Note the attempt (a client that rejected the host key never gets here)."""
        self._server.auth_attempts.append(username)
        return True

    def password_auth_supported(self) -> bool:
        """Passwords are accepted."""
        return True

    def validate_password(self, username: str, password: str) -> bool:
        """Only the test user with its password."""
        return username == self._server.username and password == self._server.password

    def public_key_auth_supported(self) -> bool:
        """The per-run client key is accepted."""
        return True


@contextmanager
def running_sftp(root: Path) -> Iterator[SftpServer]:
    """An SFTP server whose ``/`` is ``root`` for the duration of the block."""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key("openssh").decode())
    with tempfile.TemporaryDirectory(prefix="adlake-sftp-") as work:
        port = free_port()
        known_hosts = Path(work) / "known_hosts"
        known_hosts.write_text(
            f"[127.0.0.1]:{port} {host_key.export_public_key('openssh').decode().strip()}\n"
        )
        server = SftpServer(
            host="127.0.0.1",
            port=port,
            username=USERNAME,
            password="sftp-test-password-1234",
            client_private_key=client_key.export_private_key("openssh").decode(),
            known_hosts=known_hosts,
            root=root,
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
        thread.start()
        try:
            connections: list[asyncssh.SSHServerConnection] = []

            async def listen() -> asyncssh.SSHAcceptor:
                return await asyncssh.create_server(
                    lambda: _SshServer(server, connections),
                    "127.0.0.1",
                    port,
                    server_host_keys=[host_key],
                    authorized_client_keys=authorized,
                    sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=root),
                    allow_scp=False,
                    encryption_algs=list(ENCRYPTION),
                )

            acceptor = asyncio.run_coroutine_threadsafe(listen(), loop).result(timeout=10)
            try:
                yield server
            finally:

                async def stop() -> None:
                    acceptor.close()
                    for connection in connections:
                        connection.close()
                    for connection in connections:
                        await connection.wait_closed()
                    await acceptor.wait_closed()

                asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
