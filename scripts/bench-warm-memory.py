#!/usr/bin/env python3
"""An idle ready warm-pool member's memory on the host (run by
scripts/bench-warm-memory inside the private network namespace): keeps
MEMBERS `small` members of the DokuWiki stack, and once all are ready
prints each one's QEMU resident and proportional set sizes (smaps_rollup)
every 30 s for SETTLE seconds; with BENCH_KSM=1, also what KSM merged.
Asserts nothing."""
import os
import sqlite3
import sys
import time

from bench_dpe import ROOT, Dpe

STACK = os.path.join(ROOT, "image/stacks/dokuwiki")
IMAGES = os.path.join(ROOT, "target/images/dokuwiki")
KSM = "/sys/kernel/mm/ksm"


def qemu_process(uuid):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"qemu-system" in cmdline and uuid.encode() in cmdline:
            return pid, cmdline
    return None, b""


def memory(pid):
    """(RSS, PSS) in MiB."""
    rollup = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                rollup[parts[0].rstrip(":")] = int(parts[1])
    return rollup.get("Rss", 0) / 1024, rollup.get("Pss", 0) / 1024


def ksm(name):
    with open(f"{KSM}/{name}", encoding="utf-8") as f:
        return f.read().strip()


def set_ksm(name, value):
    with open(f"{KSM}/{name}", "w", encoding="utf-8") as f:
        f.write(str(value))


def main():
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    settle = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    use_ksm = os.environ.get("BENCH_KSM") == "1"
    ksm_before = None
    if use_ksm:
        try:
            ksm_before = (ksm("run"), ksm("pages_to_scan"), ksm("sleep_millisecs"))
            set_ksm("pages_to_scan", 1000)
            set_ksm("sleep_millisecs", 20)
            set_ksm("run", 1)
        except OSError as e:
            print(f"KSM cannot be used here: {e}")
            use_ksm = False
    dpe = Dpe(STACK, IMAGES, "dpe-bench-warm-memory")
    try:
        dpe.call("PUT", "/api/v1/pool", {"targets": {"small": members}})
        start = time.monotonic()
        while True:
            pool = dpe.call("GET", "/api/v1/pool")
            ready = [m for m in pool["members"] if m["state"] == "ready"]
            if len(ready) >= members:
                break
            if time.monotonic() - start > 1800:
                raise SystemExit(f"members not ready: {pool}")
            time.sleep(1)
        print(f"{members} member(s) ready after {time.monotonic() - start:.0f} s", flush=True)
        store = sqlite3.connect(f"file:{dpe.data}/dpe.sqlite3?mode=ro", uri=True)
        uuids = [store.execute("SELECT uuid FROM pool_members WHERE id = ?", (m["id"],)).fetchone()[0]
                 for m in ready[:members]]
        store.close()
        pids = []
        for uuid in uuids:
            pid, cmdline = qemu_process(uuid)
            # QEMU's command line in libvirt 9's JSON form, or the older one.
            reporting = any(s in cmdline for s in (b'"free-page-reporting":true', b"free-page-reporting=on"))
            tb_size = cmdline.split(b"tb-size=")[1].split(b",")[0].split(b"\0")[0].decode() + " MiB" \
                if b"tb-size=" in cmdline else "QEMU's default (1 GiB)"
            print(f"member {uuid}: QEMU pid {pid}, free page reporting {'on' if reporting else 'off'}, "
                  f"TCG translation cache {tb_size}")
            pids.append(pid)
        ready_at = time.monotonic()
        while True:
            elapsed = time.monotonic() - ready_at
            line = "  ".join("RSS %4.0f PSS %4.0f MiB" % memory(pid) for pid in pids)
            if use_ksm:
                line += f"  | KSM pages_sharing {ksm('pages_sharing')} pages_shared {ksm('pages_shared')}"
            print(f"+{elapsed:4.0f} s  {line}", flush=True)
            if elapsed >= settle:
                break
            time.sleep(30)
    finally:
        dpe.stop()
        if ksm_before is not None:
            set_ksm("run", ksm_before[0])
            set_ksm("pages_to_scan", ksm_before[1])
            set_ksm("sleep_millisecs", ksm_before[2])


if __name__ == "__main__":
    main()
