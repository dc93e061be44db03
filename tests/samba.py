"""A real Samba server on loopback for the SMB tests and benchmark.

``SambaServer(tmp).start()`` runs ``smbd`` (and ``samba-dcerpcd``, which
answers the share-listing and SID-lookup RPCs) as root on 127.0.0.1 and a
free high port, with its own ``smb.conf`` and every private, state, lock,
cache, pid and log directory under ``tmp``: nothing of the machine's own
Samba setup is read or written. Its users live in a private ``tdbsam``
password database; Samba still needs a Unix account behind each SMB user, so
the server creates uniquely named Unix users and a group for the session
(``useradd``) and deletes them in :meth:`stop`.

Shares:

* ``data``: POSIX permissions only; Samba shows each file's mode bits as an
  NT ACL (owner, owning group, Everyone), so files planted here with
  ``chown``/``chmod`` have real, server-made security descriptors;
* ``acl``: ``vfs_acl_xattr`` with the system ACLs ignored: the NT ACL a
  client sets (``smbcacls``) is stored and enforced as given, for deny
  entries, Authenticated Users, inheritance ...; ``admin`` is an admin user
  of this share only, so tests set ACLs as it and scan as ``reader``;
* ``private``: only ``other`` may connect (a share the reader cannot use).

Why root: ``smbd`` switches to the connecting user's uid for every file
operation; without root the tests would need uid/nss wrappers.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SMBD = shutil.which("smbd") or "/usr/sbin/smbd"
DCERPCD = "/usr/libexec/samba/samba-dcerpcd"


def unavailable() -> str | None:
    """Why a Samba server cannot be started here, or None."""
    if not os.path.exists(SMBD):
        return "smbd is not installed (Debian package 'samba'; .ci/run installs it)"
    if not shutil.which("smbpasswd"):
        return "smbpasswd is not installed (Debian package 'samba')"
    if os.geteuid() != 0:
        return "smbd must run as root to switch to its test users"
    if not shutil.which("useradd"):
        return "useradd is missing (the test users need Unix accounts)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class User:
    name: str
    password: str
    uid: int = -1


class SambaServer:
    host = "127.0.0.1"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = free_port()
        tag = secrets.token_hex(3)
        # Unique per session: parallel test sessions on one machine do not collide.
        self.reader = User(f"csr{tag}", "Rd-" + secrets.token_urlsafe(12))
        self.other = User(f"cso{tag}", "Ot-" + secrets.token_urlsafe(12))
        self.admin = User(f"csa{tag}", "Ad-" + secrets.token_urlsafe(12))
        self.group = f"csg{tag}"
        self.gid = -1
        self.shares = {name: self.root / "shares" / name for name in ("data", "acl", "private")}
        self.conf = self.root / "smb.conf"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._users: list[str] = []
        self._group_made = False

    # -- life cycle --------------------------------------------------------------
    def start(self) -> "SambaServer":
        try:
            self._make_accounts()
            self._write_conf()
            for user in (self.reader, self.other, self.admin):
                subprocess.run(["smbpasswd", "-c", str(self.conf), "-s", "-a", user.name],
                               input=f"{user.password}\n{user.password}\n".encode(), check=True,
                               capture_output=True)
            log = open(self.root / "log" / "smbd.out", "wb")
            self._procs.append(subprocess.Popen(
                [SMBD, "-s", str(self.conf), "--foreground", "--no-process-group", "-d1"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
            if os.path.exists(DCERPCD):
                self._procs.append(subprocess.Popen(
                    [DCERPCD, "-s", str(self.conf), "--foreground", "--libexec-rpcds", "-d1"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
            self._wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._procs:
            self.drop_connections()
        for p in reversed(self._procs):
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs.clear()
        for name in self._users:
            # -f: an smbd child may still be exiting under this uid
            subprocess.run(["userdel", "-f", name], capture_output=True)
        self._users.clear()
        if self._group_made:
            subprocess.run(["groupdel", self.group], capture_output=True)
            self._group_made = False

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._procs[0].poll() is not None:
                raise RuntimeError(f"smbd exited ({self._procs[0].returncode}); see {self.root / 'log'}")
            # samba-dcerpcd creates the named pipes' sockets once its helpers run.
            pipes = len(self._procs) < 2 or all(
                (self.root / "ncalrpc" / "np" / p).exists() for p in ("srvsvc", "lsarpc"))
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    if pipes:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"smbd is not listening on {self.host}:{self.port} after {timeout} s")

    def _make_accounts(self) -> None:
        subprocess.run(["groupadd", self.group], check=True, capture_output=True)
        self._group_made = True
        self.gid = int(subprocess.run(["getent", "group", self.group], check=True, capture_output=True,
                                      text=True).stdout.split(":")[2])
        for user, groups in ((self.reader, [self.group]), (self.other, []), (self.admin, [])):
            cmd = ["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-d", "/nonexistent"]
            if groups:
                cmd += ["-G", ",".join(groups)]
            subprocess.run(cmd + [user.name], check=True, capture_output=True)
            self._users.append(user.name)
            user.uid = int(subprocess.run(["id", "-u", user.name], check=True, capture_output=True,
                                          text=True).stdout)

    def _write_conf(self) -> None:
        r = self.root
        for d in ("private", "state", "lock", "cache", "pid", "ncalrpc", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        # The users smbd switches to must reach the shares (mkdtemp made the root 0700).
        os.chmod(r, 0o755)
        for path in self.shares.values():
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o755)
            os.chmod(path, 0o777)  # what a share allows is the files' business, not the root's
        self.conf.write_text(f"""\
[global]
  server role = standalone server
  workgroup = CARDSCANTEST
  netbios name = CARDSCANSMB
  smb ports = {self.port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  private dir = {r}/private
  state directory = {r}/state
  lock directory = {r}/lock
  cache directory = {r}/cache
  pid directory = {r}/pid
  ncalrpc dir = {r}/ncalrpc
  log file = {r}/log/log.%m
  log level = 1
  passdb backend = tdbsam:{r}/private/passdb.tdb
  # samba-dcerpcd is started by the tests with this file (an on-demand one would read /etc/samba)
  rpc start on demand helpers = no
  usershare max shares = 0
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  server min protocol = SMB2_02
  unix password sync = no
  obey pam restrictions = no

[data]
  path = {self.shares['data']}
  read only = no

[acl]
  path = {self.shares['acl']}
  read only = no
  vfs objects = acl_xattr
  acl_xattr:ignore system acls = yes
  admin users = {self.admin.name}

[private]
  path = {self.shares['private']}
  read only = no
  valid users = {self.other.name}
""")

    # -- helpers for tests ---------------------------------------------------------
    def url(self, share: str = "", path: str = "", user: User | None = None, password: bool = False) -> str:
        """``smb://[user[:password]@]127.0.0.1:PORT/share/path``."""
        auth = ""
        if user is not None:
            auth = user.name + (f":{user.password}" if password else "") + "@"
        tail = "/".join(p for p in (share, path) if p)
        return f"smb://{auth}{self.host}:{self.port}/{tail}"

    def plant(self, share: str, rel: str, data: bytes, *, owner: User | None = None, group: str | None = None,
              mode: int = 0o644) -> Path:
        """Write a file straight into a share's directory with this owner, group and mode."""
        path = self.shares[share] / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.chown(path, owner, group)
        os.chmod(path, mode)
        return path

    def chown(self, path: Path, owner: User | None = None, group: str | None = None) -> None:
        gid = -1
        if group is not None:
            gid = self.gid if group == self.group else int(group)
        os.chown(path, owner.uid if owner else -1, gid)

    def connection_pids(self) -> list[int]:
        """PIDs of the smbd children serving client connections (not notifyd/cleanupd)."""
        main = self._procs[0].pid
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/comm") as fh:
                    comm = fh.read().strip()
            except OSError:
                continue
            if int(fields[1]) == main and comm == "smbd":
                out.append(int(entry))
        return out

    def drop_connections(self) -> int:
        """Kill every smbd child serving a client: each client sees its connection reset."""
        pids = self.connection_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return len(pids)

    def smbcacls(self, share: str, rel: str, *args: str, user: User | None = None) -> str:
        """Run ``smbcacls`` against ``//127.0.0.1/share rel`` (default user: the acl share's admin)."""
        user = user or self.admin
        out = subprocess.run(
            ["smbcacls", f"//{self.host}/{share}", rel, "-s", str(self.conf), "-m", "SMB3",
             "-U", f"{user.name}%{user.password}", *args],
            capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"smbcacls {' '.join(args)} failed: {out.stdout.strip()} {out.stderr.strip()}")
        return out.stdout
