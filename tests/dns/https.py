"""An HTTPS server on 127.0.0.1 serving MTA-STS policies, with its own test CA (made with openssl)."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

POLICIES = {
    "mta-sts.good.test": (200, "text/plain", "version: STSv1\r\nmode: enforce\r\nmx: mail.good.test\r\n"
                                             "max_age: 604800\r\n"),
    "mta-sts.sts-testing.test": (200, "text/plain; charset=utf-8", "version: STSv1\nmode: testing\n"
                                                                    "mx: *.elsewhere.test\nmax_age: 3600\n"),
    "mta-sts.sts-404.test": (404, "text/html", "<h1>not here</h1>"),
    "mta-sts.sts-badpolicy.test": (200, "text/html", "version: STSv2\nmx: mail.good.test\n"),
}
NAMES = ["mta-sts.good.test", "mta-sts.sts-testing.test", "mta-sts.sts-404.test", "mta-sts.sts-badpolicy.test"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        status, ctype, body = POLICIES.get(host, (404, "text/plain", "unknown host"))
        if self.path != "/.well-known/mta-sts.txt":
            status, ctype, body = 404, "text/plain", "wrong path"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class PolicyServer:
    """HTTPS on a free port; `client_context` trusts its CA (and only that)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mlv-https-"))
        d = self.dir
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mlv test CA",
                 "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={NAMES[0]}", "-keyout", "srv.key",
                 "-out", "srv.csr", cwd=d)
        (d / "ext.cnf").write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in NAMES) +
                                   "\nbasicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid,issuer\n"
                                   "extendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", "srv.pem", "-extfile", "ext.cnf", cwd=d)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(d / "srv.pem", d / "srv.key")
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.client_context = ssl.create_default_context(cafile=str(d / "ca.pem"))
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
