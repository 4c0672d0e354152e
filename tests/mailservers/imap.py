"""A private Dovecot on loopback (see tests/mailservers)."""
import contextlib
import email
import email.policy
import grp
import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.mailservers.loopback import HOST, SelfSignedCert, free_port, wait_for_port

DOVECOT = "/usr/sbin/dovecot"
IMAP_USER, IMAP_PASSWORD = "crm@example.test", "imap-secret"


def dovecot_missing_reason():
    if not os.access(DOVECOT, os.X_OK):
        return f"{DOVECOT} is not installed (apt-get install dovecot-imapd; .ci/run does it)"
    if not os.path.exists("/usr/lib/dovecot/imap"):
        return "Dovecot's IMAP server is not installed (apt-get install dovecot-imapd)"
    return None


class ImapServer:
    """A private Dovecot on 127.0.0.1 with one user and a maildir, all under `directory`."""

    def __init__(self, directory=None, *, user=IMAP_USER, password=IMAP_PASSWORD):
        reason = dovecot_missing_reason()
        if reason:
            raise RuntimeError(reason)
        self._own_directory = directory is None
        # Not under pytest's 0700 tmp_path: as root, Dovecot's own users must reach the maildir.
        self.directory = Path(directory or tempfile.mkdtemp(prefix="leadgram-dovecot-"))
        self.directory.chmod(0o755)
        self.host, self.port, self.ssl_port = HOST, free_port(), free_port()  # plain (+STARTTLS), implicit TLS
        self.user, self.password = user, password
        self.cert = SelfSignedCert.create(self.directory)
        self.bad_password = password + "-wrong"
        self.log_path = self.directory / "dovecot.log"
        self.config_path = self.directory / "dovecot.conf"
        self.maildir = self.directory / "mail" / user
        self._process = None
        self._write_config()

    def _accounts(self):
        """(service user, login user, mail uid, mail gid): Dovecot's own users as root, else ours."""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid())
            return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
        internal = pwd.getpwnam("dovecot")
        login = pwd.getpwnam("dovenull")
        return internal.pw_name, login.pw_name, internal.pw_uid, internal.pw_gid

    def _write_config(self):
        d = self.directory
        internal, login, uid, gid = self._accounts()
        for sub in ("run", "state", "mail"):
            (d / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(d / "mail", uid, gid)
        (d / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        (d / "users").chmod(0o644)
        # A non-root master cannot chroot or change users: every service runs as us, unchrooted.
        no_chroot = "service imap-login {\n  chroot =\n}\n" if os.geteuid() != 0 else ""
        self.config_path.write_text(f"""\
# Written by tests/mailservers/imap.py: a private Dovecot for the email tests.
protocols = imap
listen = {HOST}
base_dir = {d}/run
state_dir = {d}/state
instance_name = leadgram-test-{self.port}
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
disable_plaintext_auth = no
ssl = yes
ssl_cert = <{self.cert.cert_path}
ssl_key = <{self.cert.key_path}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
# A wrong password is answered at once (the default waits 2 s, to slow down guessing).
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(gid).gr_name}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = {min(gid, 1)}
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.ssl_port}
  }}
}}
# Nor the growing per-IP penalty after failures (up to 15 s): without its socket there is none.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{no_chroot}
""")

    # -- control ---------------------------------------------------------------------------------

    def start(self, timeout=10.0):
        if self._process is not None:
            return self
        log = open(self.directory / "dovecot.stderr", "ab")  # closed in stop()
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        self._stderr = log
        try:
            wait_for_port(self.host, self.port, timeout, greeting=b"* OK", process=self._process)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"Dovecot did not start: {exc}\n{self.logs()}") from exc
        return self

    def stop(self, timeout=10.0):
        """The server goes away (its port refuses connections); the maildir stays for `start()`."""
        process, self._process = self._process, None
        if process is None:
            return
        # SIGTERM to the whole process group (master, log, auth, anvil, imap...). Now and then the
        # master then waits seconds for a child it has lost track of: after half a second, whatever is
        # left gets SIGKILL (the maildir is consistent anyway: each APPEND was complete when answered).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(0.5)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
        self._stderr.close()

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def running(self):
        return self._process is not None and self._process.poll() is None

    def logs(self):
        parts = []
        for path in (self.log_path, self.directory / "dovecot.stderr"):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def client_tls_context(self):
        """For `MailBox(host, ssl_port, ssl_context=...)` or STARTTLS on `port`: trusts this server only."""
        return self.cert.client_context()

    def settings(self, folder="INBOX", ssl=True):
        """The product's IMAP_* settings that point at this server (imaps, or plain IMAP)."""
        return {"IMAP_HOST": self.host, "IMAP_PORT": str(self.ssl_port if ssl else self.port),
                "IMAP_SSL": "1" if ssl else "0", "IMAP_USERNAME": self.user, "IMAP_PASSWORD": self.password,
                "IMAP_FOLDER": folder}

    # -- mail ------------------------------------------------------------------------------------

    def connect(self):
        """A logged-in imaplib connection (the caller logs out)."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        imap.login(self.user, self.password)
        return imap

    def deliver(self, raw, folder="INBOX", flags=""):
        """Append one message (bytes, str or an email.message.Message) to `folder`; its UID."""
        if isinstance(raw, email.message.Message):
            raw = raw.as_bytes(policy=email.policy.SMTP)
        elif isinstance(raw, str):
            raw = raw.encode("utf-8")
        imap = self.connect()
        try:
            if folder.upper() != "INBOX":
                imap.create(folder)  # "already exists" is fine
            typ, data = imap.append(folder, flags or None, imaplib.Time2Internaldate(time.time()), raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND to {folder} refused: {data}")
            # Dovecot answers "OK [APPENDUID <uidvalidity> <uid>] Append completed."
            text = data[0].decode() if data and data[0] else ""
            if "APPENDUID" in text:
                return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])
            return None
        finally:
            imap.logout()
