"""Loopback plumbing the mail test servers share: free ports, waiting for a server to
answer, a self-signed certificate made at test time."""
import datetime
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_for_port(host, port, timeout=10.0, greeting=None, process=None):
    """Until `host:port` accepts a connection (and, with `greeting`, sends a line starting with it)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=1) as conn:
                if greeting is None:
                    return
                conn.settimeout(2)
                if conn.recv(200).startswith(greeting):
                    return
        except OSError as exc:
            last_error = exc
        time.sleep(0.02)
    raise TimeoutError(f"nothing answered on {host}:{port} within {timeout} s ({last_error})")


@dataclass
class SelfSignedCert:
    """A certificate for 127.0.0.1 and localhost, with contexts for the server and a trusting client."""
    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        directory = Path(directory)
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cls(cert_path, key_path)

    def server_context(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self):
        """Verifies the server against this certificate (hostname 127.0.0.1 or localhost)."""
        return ssl.create_default_context(cafile=str(self.cert_path))
