#!/usr/bin/env python3
"""Many-host benchmark (run by scripts/bench-hosts). For each pool size
(1, 10, 50 hosts): a fresh dpe set up on `test:///default`, the other hosts
added as libvirt test-driver hosts of their own (`test:///FILE`, one node
description each: a private in-memory libvirt per host), then

- deploy spread: 2 deploys per host, 8 at a time; how many instances each
  host got (every host is as large as test:///default, 16 CPUs and 3 GiB,
  so placement by free memory should give each 2), and the median time of
  a deploy (accepted -> running, from the task's times);
- the reconcile pass (every host, one after another) and the usage
  collection pass, median of several, from dpe's own debug log;
- dpe's memory: resident (VmRSS) and its peak (VmHWM) after all that.

`test:///FILE` URIs are refused by the API (a user must not make dpe read
files), so the hosts are written into the store while dpe is stopped, as
`server/tests/common` does through the store. Prints; asserts nothing.
"""
import concurrent.futures
import http.cookiejar
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from bench_dpe import ROOT, PASSWORD, free_port, ts

DPE = os.environ.get("DPE_BIN", os.path.join(ROOT, "target/release/dpe"))
STACK = os.path.join(ROOT, "server/tests/fixtures/stack")
SIZES = [int(n) for n in os.environ.get("BENCH_HOSTS", "1 10 50").split()]
PASSES = 6

NODE = """<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets>
    <cores>16</cores><threads>1</threads></cpu>
  <memory>{kib}</memory>
  <network>
    <name>default</name><bridge name="virbr0"/><forward/>
    <ip address="192.168.122.1" netmask="255.255.255.0">
      <dhcp><range start="192.168.122.2" end="192.168.122.254"/></dhcp></ip>
  </network>
</node>
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Dpe:
    """The dpe binary on a data folder, its debug log read as it comes."""

    def __init__(self, data, images, pool=None):
        self.data, self.images = data, images
        self.pool = pool or f"bench-hosts-{os.getpid()}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines = []

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DPE_")}
        env.update(DPE_STACK_DIR=STACK, DPE_IMAGE_DIR=self.images,
                   DPE_STORAGE_POOL=self.pool, DPE_ALLOW_TEST_DRIVER="true",
                   DPE_RECONCILE_INTERVAL_MS="1000", DPE_USAGE_INTERVAL_MS="1000",
                   DPE_SIGN_IN_PER_ACCOUNT="1000", NO_COLOR="1",
                   RUST_LOG="warn,server::engine::background=debug,server::engine::reconcile=debug")
        self.proc = subprocess.Popen(
            [DPE, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_log, daemon=True).start()
        for _ in range(600):
            try:
                urllib.request.urlopen(self.base + "/api/v1/health")
                break
            except OSError:
                time.sleep(0.05)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _read_log(self):
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), ANSI.sub("", line)))

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

    def set_up(self, host_uri="test:///default", storage_dir="/srv/dpe-1"):
        with open(os.path.join(self.data, "setup-code"), encoding="utf-8") as f:
            code = f.read().strip()
        self.call("POST", "/api/v1/setup", {
            "setup_code": code, "appliance_name": "bench", "admin_username": "admin",
            "admin_password": PASSWORD, "host_uri": host_uri,
            "storage_dir": storage_dir, "network": "default"})

    def sign_in(self):
        self.call("POST", "/api/v1/login", {"username": "admin", "password": PASSWORD})

    def wait_task(self, task_id):
        while True:
            task = self.call("GET", f"/api/v1/tasks/{task_id}")
            if task["state"] != "running":
                if task["state"] != "succeeded":
                    raise SystemExit(f"task failed: {task}")
                return task
            time.sleep(0.02)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()

    def memory_kib(self):
        fields = {}
        with open(f"/proc/{self.proc.pid}/status", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def passes(self, what, since):
        """Seconds of each logged `what` pass since `since` (monotonic)."""
        found = []
        for at, line in list(self.lines):
            if at >= since and what in line:
                m = re.search(r"seconds=([0-9.e-]+)", line)
                if m:
                    found.append(float(m.group(1)))
        return found


def add_hosts(data, nodes, count):
    """Writes hosts 2..count into the store of a stopped dpe."""
    db = sqlite3.connect(os.path.join(data, "dpe.sqlite3"))
    with db:
        for n in range(2, count + 1):
            path = os.path.join(nodes, f"host-{n}.xml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(NODE.format(kib=3072 * 1024))
            db.execute("INSERT INTO hosts (name, uri, storage_dir, network, created_at) "
                       "VALUES (?, ?, ?, 'default', ?)",
                       (f"host-{n}", f"test://{path}", f"/srv/dpe-{n}", int(time.time())))
    db.close()


def bench(hosts):
    work = tempfile.mkdtemp(prefix="dpe-bench-hosts-")
    data, images, nodes = (os.path.join(work, d) for d in ("data", "images", "nodes"))
    for d in (data, images, nodes):
        os.makedirs(d)
    # The test driver reads none of it: a qcow2 header is an image.
    for name, content in (("disk.qcow2", b"QFI\xfb\0\0\0\x03"), ("vmlinuz", b"kernel"),
                          ("initrd.img", b"initrd")):
        with open(os.path.join(images, name), "wb") as f:
            f.write(content)
    dpe = Dpe(data, images)
    dpe.start()
    dpe.set_up()
    dpe.stop()
    add_hosts(data, nodes, hosts)
    dpe = Dpe(data, images)
    dpe.start()
    dpe.sign_in()
    # Every host answered once (its status is known) before deploying.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = dpe.call("GET", "/api/v1/hosts")
        if len(listed) == hosts and all(h["probe"]["connected"] for h in listed):
            break
        time.sleep(0.2)
    rss_idle, _ = dpe.memory_kib()

    def deploy(n):
        accepted = dpe.call("POST", "/api/v1/instances",
                            {"name": f"b{n}", "size": "tiny", "params": {"title": "bench"}})
        task = dpe.wait_task(accepted["task_id"])
        return ts(task["finished_at"]) - ts(task["created_at"])

    count = 2 * hosts
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        took = list(pool.map(deploy, range(count)))
    all_deployed = time.monotonic() - started
    per_host = sorted(h["instances"] for h in dpe.call("GET", "/api/v1/hosts"))
    since = time.monotonic()
    time.sleep(PASSES * 1.0 + 2)
    reconcile = dpe.passes("reconcile pass", since)
    usage = dpe.passes("usage collection pass", since)
    rss, hwm = dpe.memory_kib()
    dpe.stop()
    shutil.rmtree(work, ignore_errors=True)
    return {
        "hosts": hosts, "deploys": count, "all_deployed_s": all_deployed,
        "deploy_median_s": statistics.median(took),
        "per_host_min": per_host[0], "per_host_max": per_host[-1],
        "hosts_used": sum(1 for n in per_host if n > 0),
        "reconcile_ms": 1000 * statistics.median(reconcile) if reconcile else float("nan"),
        "reconcile_passes": len(reconcile),
        "usage_ms": 1000 * statistics.median(usage) if usage else float("nan"),
        "rss_idle_mib": rss_idle / 1024, "rss_mib": rss / 1024, "hwm_mib": hwm / 1024,
    }


GUEST = os.path.join(ROOT, "target/test-guest")
LAB = os.path.join(ROOT, "scripts/hosts-lab")


def lab_host(dpe, labdir, n):
    """Starts lab host `n` (scripts/hosts-lab) with what dpe issues, and
    adds it: even over TLS, odd over SSH with its pinned key."""
    hostdir = os.path.join(labdir, f"host{n}")
    pki = os.path.join(hostdir, "pki")
    os.makedirs(pki)
    address = f"198.18.{n}.2"
    credentials = dpe.call("GET", "/api/v1/hosts/credentials")
    bundle = dpe.call("POST", "/api/v1/hosts/server-certificate", {"host": address})
    for f in bundle["files"]:
        with open(os.path.join(pki, os.path.basename(f["path"])), "w", encoding="utf-8") as out:
            out.write(f["contents"])
    with open(os.path.join(hostdir, "authorized_keys"), "w", encoding="utf-8") as out:
        out.write(credentials["ssh_public_key"].strip() + "\n")
    subprocess.run([LAB, "start", hostdir, str(n)], check=True)
    if n % 2 == 0:
        uri, key = f"qemu+tls://{address}/system", None
    else:
        uri = f"qemu+ssh://root@{address}/system"
        with open(os.path.join(hostdir, "ssh/ssh_host_ed25519_key.pub"), encoding="utf-8") as f:
            key = f.read()
    dpe.call("POST", "/api/v1/hosts", {"uri": uri, "storage_dir": os.path.join(hostdir, "storage"),
                                       "network": "default", "ssh_host_key": key,
                                       "name": f"lab{n}"})
    return hostdir


def bench_lab():
    """This machine's libvirtd (the sandbox's) and two lab hosts, one over
    TLS and one over SSH: real QEMU (TCG), real transports."""
    work = tempfile.mkdtemp(prefix="dpe-bench-lab-")
    os.chmod(work, 0o755)
    data, labdir = os.path.join(work, "data"), os.path.join(work, "lab")
    os.makedirs(data)
    os.makedirs(labdir)
    dpe = Dpe(data, GUEST)
    dpe.start()
    dpe.set_up("qemu:///system", os.path.join(data, "storage"))
    dpe.sign_in()
    started = []
    try:
        for n in (2, 3):
            started.append((lab_host(dpe, labdir, n), n))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            listed = dpe.call("GET", "/api/v1/hosts")
            if len(listed) == 3 and all(h["probe"]["connected"] for h in listed):
                break
            time.sleep(0.2)
        offers = [(h["name"], h["probe"]["acceleration"], h["probe"]["hypervisor_version"])
                  for h in dpe.call("GET", "/api/v1/hosts")]
        ids, took = [], []
        for n in range(6):
            accepted = dpe.call("POST", "/api/v1/instances",
                                {"name": f"lab-{n}", "size": "tiny", "params": {"title": "bench"}})
            task = dpe.wait_task(accepted["task_id"])
            ids.append(accepted["id"])
            took.append(ts(task["finished_at"]) - ts(task["created_at"]))
        per_host = {h["name"]: h["instances"] for h in dpe.call("GET", "/api/v1/hosts")}
        since = time.monotonic()
        time.sleep(PASSES * 1.0 + 2)
        reconcile = dpe.passes("reconcile pass", since)
        rss, hwm = dpe.memory_kib()
        for i in ids:
            started_delete = dpe.call("DELETE", f"/api/v1/instances/{i}")
            dpe.wait_task(started_delete["task_id"])
    finally:
        dpe.stop()
        for hostdir, n in started:
            subprocess.run([LAB, "stop", hostdir, str(n)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("3 real hosts (the sandbox's libvirtd, lab2 over TLS, lab3 over SSH):")
    print(f"  hosts: {offers}")
    print(f"  6 deploys one after another: per host {per_host}; first three (golden image "
          f"uploaded and checked on each) {', '.join(f'{t:.2f}' for t in took[:3])} s, "
          f"then median {statistics.median(took[3:]):.2f} s")
    print(f"  reconcile pass median {1000 * statistics.median(reconcile):.1f} ms "
          f"({len(reconcile)} passes); RSS {rss / 1024:.1f} MiB, peak {hwm / 1024:.1f} MiB")


def main():
    if sys.argv[1:] == ["--lab"]:
        print(f"dpe: {DPE}")
        bench_lab()
        return
    print(f"dpe: {DPE}")
    rows = [bench(n) for n in SIZES]
    print()
    print("hosts  deploys  all deployed  deploy median  per host (min-max, hosts used)"
          "  reconcile pass  usage pass  RSS idle  RSS after  peak")
    for r in rows:
        print(f"{r['hosts']:>5}  {r['deploys']:>7}  {r['all_deployed_s']:>10.1f} s"
              f"  {r['deploy_median_s'] * 1000:>10.0f} ms"
              f"  {r['per_host_min']}-{r['per_host_max']} ({r['hosts_used']} used)".ljust(34)
              + f"  {r['reconcile_ms']:>10.1f} ms  {r['usage_ms']:>7.1f} ms"
              f"  {r['rss_idle_mib']:>6.1f} MiB  {r['rss_mib']:>6.1f} MiB  {r['hwm_mib']:>6.1f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
