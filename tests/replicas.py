"""Several ``cove serve`` replicas on one data dir and one database, behind Debian's nginx.

nginx runs as the test user (as root, its workers stay root) in the foreground, on a free loopback port,
with every path it writes (pid, logs, temporaries) in a temp dir: no system config is read or touched.
The config is the one docs/deploy.md shows ("Several replicas"), with the replicas' ports filled in.
Used by tests/e2e/test_replicas.py and bench/hub_load.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import DATABASES, HubServer, free_port, start_server, stop_server, wait_until_serving

#: The ``http`` block the tests run, as docs/deploy.md shows it: ``{upstreams}`` is one ``server`` line
#: per replica, ``{listen}`` the address nginx listens on.
NGINX_HTTP = """\
    upstream cove {{
{upstreams}
        keepalive 32;
    }}
    server {{
        listen {listen};
        client_max_body_size 0;              # the Hub bounds bodies itself (COVE_MAX_COMMIT_BYTES, ...)
        location / {{
            proxy_pass http://cove;
            proxy_http_version 1.1;
            proxy_set_header Connection "";  # keep connections to the replicas open
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_request_buffering off;     # stream uploads through, never spooled to nginx's disk
            proxy_buffering off;             # and downloads
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
            proxy_next_upstream error timeout;  # a request no replica got yet goes to the next
        }}
    }}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


@dataclass
class Nginx:
    url: str
    folder: Path
    proc: subprocess.Popen

    @classmethod
    def start(cls, folder: Path, upstreams: list[str]) -> Nginx:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed: apt-get install nginx (scripts/test-setup.sh)")
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=10s;" for u in upstreams)
        temps = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in
                          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = folder / "nginx.conf"
        conf.write_text(
            ("user root;\n" if os.geteuid() == 0 else "")  # as root, keep the workers' rights to the temp dir
            + f"worker_processes 1;\ndaemon off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    access_log {folder / 'access.log'};\n{temps}\n"
            + NGINX_HTTP.format(upstreams=servers, listen=f"127.0.0.1:{port}") + "}\n")
        proc = subprocess.Popen([binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
                                stdout=subprocess.DEVNULL, stderr=open(folder / "stderr.log", "w"))
        url = f"http://127.0.0.1:{port}"
        # nginx answers 200 only once a replica does: the replicas are up before it starts
        wait_until_serving(proc, f"{url}/api/agent-harnesses", "nginx", folder / "stderr.log", timeout=30)
        return cls(url, folder, proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Replicas:
    """``n`` replicas of one Hub (shared ``data_dir`` and ``database_url``) and nginx in front (``url``)."""

    data_dir: Path
    servers: list[HubServer]
    nginx: Nginx
    env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def hub(self) -> HubServer:
        """The Hub as tests see it: through nginx, its data dir for the CLI."""
        first = self.servers[0]
        return HubServer(self.url, self.data_dir, first.proc, first.log, first._users)

    @classmethod
    def start(cls, folder: Path, n: int, env: dict) -> Replicas:
        """Start ``n`` replicas at once (they race for the first start: migrations, secret, admin)."""
        from concurrent.futures import ThreadPoolExecutor

        data_dir = folder / "data"
        if "COVE_DATABASE_URL" in env:  # the CLI (users, tokens) reaches the same database
            DATABASES[data_dir.resolve()] = env["COVE_DATABASE_URL"]
        with ThreadPoolExecutor(n) as pool:
            servers = list(pool.map(lambda i: start_server(data_dir, env=env, log=folder / f"replica-{i}.log"),
                                    range(n)))
        try:
            nginx = Nginx.start(folder / "nginx", [s.url.removeprefix("http://") for s in servers])
        except BaseException:
            for s in servers:
                stop_server(s)
            raise
        return cls(data_dir, servers, nginx, env)

    def stop(self) -> None:
        self.nginx.stop()
        for s in self.servers:
            if s.proc.poll() is None:
                stop_server(s)
