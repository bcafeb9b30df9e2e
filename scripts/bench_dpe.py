"""A dpe of a benchmark's own, for scripts/bench-engine.py and
scripts/bench-deploy.py: the release binary on a fresh data folder, set up
on this machine's libvirtd (the sandbox's), signed in as its admin, and
spoken to over the REST API. Run inside the private network namespace."""
import datetime
import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DPE = os.environ.get("DPE_BIN", os.path.join(ROOT, "target/release/dpe"))
PASSWORD = "violet-Tractor-91-mango"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ts(text):
    """Unix seconds of an RFC 3339 time from the API."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Dpe:
    def __init__(self, stack, image_dir, pool, extra_env=None):
        pool = f"{pool}-{os.getpid()}"
        self.data = tempfile.mkdtemp(prefix="dpe-bench-")
        os.chmod(self.data, 0o755)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DPE_")}
        env.update(DPE_STACK_DIR=stack, DPE_IMAGE_DIR=image_dir, DPE_STORAGE_POOL=pool,
                   RUST_LOG="warn", **(extra_env or {}))
        self.proc = subprocess.Popen([DPE, "serve", "--listen", f"127.0.0.1:{self.port}",
                                      "--data-dir", self.data], env=env)
        for _ in range(400):
            try:
                urllib.request.urlopen(self.base + "/api/v1/health")
                break
            except OSError:
                time.sleep(0.05)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with open(os.path.join(self.data, "setup-code"), encoding="utf-8") as f:
            code = f.read().strip()
        self.call("POST", "/api/v1/setup", {
            "setup_code": code, "appliance_name": "bench", "admin_username": "admin", "admin_password": PASSWORD,
            "host_uri": "qemu:///system", "storage_dir": os.path.join(self.data, "storage"),
            "network": "default"})
        self.call("POST", "/api/v1/login", {"username": "admin", "password": PASSWORD})

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with self.opener.open(req) as r:
                text = r.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {path}: {e.code} {e.read().decode()}")

    def wait_task(self, task_id, must_succeed=True):
        while True:
            task = self.call("GET", f"/api/v1/tasks/{task_id}")
            if task["state"] != "running":
                if must_succeed and task["state"] != "succeeded":
                    raise SystemExit(f"task failed: {task}")
                return task
            time.sleep(0.01)

    def delete(self, instance_id):
        started = self.call("DELETE", f"/api/v1/instances/{instance_id}")
        self.wait_task(started["task_id"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)
