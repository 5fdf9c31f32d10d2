"""Real mail servers for the DMARC tests: Dovecot IMAP (rootless, plain/STARTTLS/IMAPS) and aiosmtpd.

Dovecot runs as an unprivileged user (created when the tests run as root: Dovecot's login
processes refuse to run as root), from a temp dir, on free ports of 127.0.0.1.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import free_port

DOVECOT_USER = "mlvtest"
PASSWORD = "s3cret-Pa55"
_users = itertools.count(1)


def make_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def _wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(64):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


@dataclass
class Dovecot:
    base: Path
    port: int          # plain text and STARTTLS
    ssl_port: int      # IMAPS
    cert: Path
    process: subprocess.Popen[bytes]
    as_user: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> Dovecot:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise RuntimeError("Dovecot is not installed (apt-get install dovecot-imapd)")
        base = Path(tempfile.mkdtemp(prefix="mlv-dovecot-", dir="/tmp"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(DOVECOT_USER)
            except KeyError:
                subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", DOVECOT_USER], check=True,
                               capture_output=True, timeout=30)
            as_user = ["runuser", "-u", DOVECOT_USER, "--"]
        cert, key = make_cert(base)
        user = DOVECOT_USER if as_user else pwd.getpwuid(os.geteuid()).pw_name
        group = subprocess.run(["id", "-gn", user], check=True, capture_output=True, text=True).stdout.strip()
        port, ssl_port = free_port(), free_port()
        for sub in ("run", "state", "mail"):
            (base / sub).mkdir()
        # Dovecot re-reads a passwd-file at most once a second: all the test mailboxes exist from the start
        (base / "users").write_text("".join(f"dmarc{i}@example.test:{{PLAIN}}{PASSWORD}::::::\n"
                                            for i in range(1, 201)))
        (base / "dovecot.conf").write_text(f"""instance_name = mlv-dovecot-{port}
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
mail_location = maildir:{base}/mail/%u
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={base}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""")
        if as_user:
            subprocess.run(["chown", "-R", f"{DOVECOT_USER}:{group}", str(base)], check=True, timeout=30)
            os.chmod(base, 0o755)
        process = subprocess.Popen([*as_user, binary, "-F", "-c", str(base / "dovecot.conf")],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = cls(base=base, port=port, ssl_port=ssl_port, cert=cert, process=process, as_user=as_user)
        try:
            _wait_port(port)
        except RuntimeError:
            log = (base / "dovecot.log").read_text() if (base / "dovecot.log").exists() else ""
            server.stop()
            raise RuntimeError(f"Dovecot did not start: {log[-2000:]}") from None
        return server

    def add_user(self) -> str:
        """A mailbox no test used before (empty)."""
        return f"dmarc{next(_users)}@example.test"

    def stop(self) -> None:
        pid_file = self.base / "run" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 15)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.base, ignore_errors=True)


class SmtpServer:
    """aiosmtpd on a free port: STARTTLS, AUTH (LOGIN/PLAIN) only after TLS; keeps what it receives."""

    def __init__(self, cert: Path, key: Path, user: str = "mailer", password: str = PASSWORD) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[tuple[str, list[str], bytes, bool]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                       bool(session.authenticated)))
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login == user.encode() and \
                data.password == password.encode()
            return AuthResult(success=ok, handled=False)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=context,
                                     require_starttls=False, authenticator=authenticator, auth_require_tls=True)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
