#!/usr/bin/env python3
"""Deploy -> healthy application, warm beside cold (run by
scripts/bench-deploy inside the private network namespace, with the
release binary and the DokuWiki golden image). Prints its figures;
asserts nothing.

- cold: the pool's targets at none; each deploy boots its own guest;
- warm: one `small` member kept ready; each deploy claims it, and the
  next deploy waits until the refill is ready (so a claim never shares
  the CPU with a booting guest, as on an appliance at rest);
- for each: the median, min and max over RUNS deploys of "POST accepted"
  to "the instance is healthy" (the wiki answers with its title), and
  dpe's own time for a claim (the personalize step: the guest agent call
  and the domain's relabelling);
- the memory one idle ready member costs on the host: its QEMU process's
  resident and proportional set sizes.
"""
import os
import sqlite3
import statistics
import sys
import time

from bench_dpe import ROOT, Dpe as BaseDpe, ts

STACK = os.path.join(ROOT, "image/stacks/dokuwiki")
IMAGES = os.path.join(ROOT, "target/images/dokuwiki")
WIKI_PASSWORD = "Sturdy-Lantern-58-meadow"


class Dpe(BaseDpe):
    def __init__(self):
        super().__init__(STACK, IMAGES, "dpe-bench-deploy")

    def until(self, path, done, limit=900, every=0.05):
        start = time.monotonic()
        while True:
            body = self.call("GET", path)
            if done(body):
                return body
            if time.monotonic() - start > limit:
                raise SystemExit(f"gave up on {path}: {body}")
            time.sleep(every)

    def deploy_until_healthy(self, name):
        start = time.monotonic()
        accepted = self.call("POST", "/api/v1/instances", {
            "name": name, "size": "small", "params": {
                "wiki_title": f"Bench {name}", "admin_user": "wikiadmin",
                "admin_password": WIKI_PASSWORD, "admin_email": "wiki@example.org"}})
        self.until(f"/api/v1/instances/{accepted['id']}", lambda i: i["health"] == "healthy")
        healthy = time.monotonic() - start
        task = self.call("GET", f"/api/v1/tasks/{accepted['task_id']}")
        if task["state"] != "succeeded":
            raise SystemExit(f"deploy failed: {task}")
        steps = {s["name"]: (s["state"], s) for s in task["steps"]}
        claim = None
        if "personalize" in steps and steps["personalize"][0] == "done":
            s = steps["personalize"][1]
            claim = ts(s["finished_at"]) - ts(s["started_at"])
        return accepted["id"], healthy, claim


def qemu_memory(uuid):
    """(RSS, PSS) in MiB of the QEMU process running domain `uuid`."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"qemu-system" in cmdline and uuid.encode() in cmdline:
            rollup = {}
            with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[1].isdigit():
                        rollup[parts[0].rstrip(":")] = int(parts[1])
            return rollup.get("Rss", 0) / 1024, rollup.get("Pss", 0) / 1024
    return None


def figures(label, times):
    return (f"{label}: median {statistics.median(times):.1f} s "
            f"(min {min(times):.1f}, max {max(times):.1f}, n={len(times)})")


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    dpe = Dpe()
    try:
        # Cold: no pool. The first deploy also uploads the golden image.
        dpe.call("PUT", "/api/v1/pool", {"targets": {}})
        dpe.until("/api/v1/pool", lambda p: not p["members"])
        first, _, _ = dpe.deploy_until_healthy("upload")
        dpe.delete(first)
        cold = []
        for n in range(runs):
            instance, healthy, _ = dpe.deploy_until_healthy(f"cold-{n}")
            cold.append(healthy)
            print(f"cold deploy {n + 1}: healthy after {healthy:.1f} s", flush=True)
            dpe.delete(instance)

        # Warm: one member kept ready; each deploy claims it.
        dpe.call("PUT", "/api/v1/pool", {"targets": {"small": 1}})
        warm, claims, boots, memory = [], [], [], None
        for n in range(runs):
            start = time.monotonic()
            dpe.until("/api/v1/pool", lambda p: any(m["state"] == "ready" for m in p["members"]))
            boots.append(time.monotonic() - start)
            time.sleep(5)  # the member at rest
            if memory is None:
                members = dpe.call("GET", "/api/v1/pool")["members"]
                store = sqlite3.connect(f"file:{dpe.data}/dpe.sqlite3?mode=ro", uri=True)
                row = store.execute("SELECT uuid FROM pool_members WHERE id = ?",
                                    (members[0]["id"],)).fetchone()
                store.close()
                uuid = row[0] if row else None
                memory = qemu_memory(uuid) if uuid else None
            instance, healthy, claim = dpe.deploy_until_healthy(f"warm-{n}")
            warm.append(healthy)
            if claim is not None:
                claims.append(claim)
            print(f"warm deploy {n + 1}: healthy after {healthy:.1f} s"
                  f" ({'claimed in %.2f s' % claim if claim is not None else 'went cold'})", flush=True)
            dpe.delete(instance)

        print()
        print("Deploy accepted -> application healthy (DokuWiki, size small, TCG):")
        print("  " + figures("cold", cold))
        print("  " + figures("warm", warm) + "   target: at most 5 s")
        if claims:
            print("  " + figures("dpe's own time for a claim (personalize step)", claims))
        print("  " + figures("a pool member's refill, claimed -> ready", boots[1:] or boots))
        if memory:
            print(f"  one idle ready member on the host: RSS {memory[0]:.0f} MiB, PSS {memory[1]:.0f} MiB"
                  " (its QEMU process; the size gives the guest 1,024 MiB)")
    finally:
        dpe.stop()


if __name__ == "__main__":
    main()
