#!/usr/bin/env python3
"""Engine benchmark on a real libvirtd (run by scripts/bench-engine inside
the private network namespace). Prints its figures; asserts nothing.

- engine time per deploy, request accepted -> domain running (the guest's
  boot excluded), median of 20, from the task's own timestamps;
- the same deploy done by `virt-install --import` (overlay made with
  qemu-img, as dpe does), median of 10;
- the deploy median from a 1 GiB and a 20 GiB golden image;
- 20 deploy requests sent at once: time until all were accepted;
- where a deploy's time goes: the median of each task step, beside
  libvirt's own floor (starting an already-defined domain of the same
  guest through the libvirt API, no dpe involved).
"""
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench_dpe import ROOT, Dpe as BaseDpe, ts

GUEST = os.path.join(ROOT, "target/test-guest")
STACK = os.path.join(ROOT, "server/tests/fixtures/stack")


class Dpe(BaseDpe):
    def __init__(self, image_dir, pool):
        super().__init__(STACK, image_dir, pool, {"DPE_SIGN_IN_PER_ACCOUNT": "1000"})

    def deploy(self, name):
        accepted = self.call("POST", "/api/v1/instances",
                             {"name": name, "size": "tiny", "params": {"title": "bench"}})
        task = self.wait_task(accepted["task_id"])
        steps = {st["name"]: ts(st["finished_at"]) - ts(st["started_at"]) for st in task["steps"]}
        return accepted["id"], ts(task["finished_at"]) - ts(task["created_at"]), steps


def deploy_median(dpe, count, prefix, steps=None):
    """Median, min and max of `count` deploys; each step's times go into
    `steps` (name -> list of seconds) when given."""
    first, _, _ = dpe.deploy(f"{prefix}-warm")  # uploads the golden image once
    dpe.delete(first)
    times = []
    for n in range(count):
        instance, seconds, step_times = dpe.deploy(f"{prefix}-{n}")
        times.append(seconds)
        for name, took in step_times.items():
            if steps is not None:
                steps.setdefault(name, []).append(took)
        dpe.delete(instance)
    return statistics.median(times), min(times), max(times)


def burst(dpe, count):
    def one(n):
        return dpe.call("POST", "/api/v1/instances",
                        {"name": f"burst-{n}", "size": "tiny", "params": {"title": "b"}})
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        accepted = list(pool.map(one, range(count)))
    all_accepted = time.monotonic() - start
    # Placement refuses what the host has no room for (at most 4 vCPUs per
    # CPU): those deploys fail at their first step, by design.
    ran = sum(dpe.wait_task(a["task_id"], must_succeed=False)["state"] == "succeeded" for a in accepted)
    all_done = time.monotonic() - start
    for a in accepted:
        dpe.delete(a["id"])
    return all_accepted, all_done, ran


def virt_install_median(runs):
    golden_dir = tempfile.mkdtemp(prefix="dpe-bench-vi-")
    os.chmod(golden_dir, 0o755)
    golden = os.path.join(golden_dir, "golden.qcow2")
    shutil.copy(os.path.join(GUEST, "disk.qcow2"), golden)
    times = []
    for n in range(runs):
        name = f"bench-vi-{n}"
        overlay = os.path.join(golden_dir, f"{name}.qcow2")
        start = time.monotonic()
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", golden, "-F", "qcow2",
                        overlay, "1G"], check=True)
        subprocess.run([
            "virt-install", "--connect", "qemu:///system", "--name", name, "--memory", "256",
            "--vcpus", "1", "--import", "--disk", f"path={overlay},format=qcow2,bus=virtio",
            "--boot", f"kernel={GUEST}/vmlinuz,initrd={GUEST}/initrd.img,kernel_args=console=ttyS0",
            "--network", "network=default,model=virtio", "--graphics", "none",
            "--noautoconsole", "--osinfo", "detect=on,require=off", "--virt-type", "qemu",
        ], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
        subprocess.run(["virsh", "-q", "-c", "qemu:///system", "destroy", name], stdout=subprocess.DEVNULL)
        if n > 0:
            subprocess.run(["virsh", "-q", "-c", "qemu:///system", "undefine", name], stdout=subprocess.DEVNULL)
    floor = libvirt_start_floor("bench-vi-0", runs)
    subprocess.run(["virsh", "-q", "-c", "qemu:///system", "undefine", "bench-vi-0"], stdout=subprocess.DEVNULL)
    shutil.rmtree(golden_dir, ignore_errors=True)
    return (statistics.median(times), min(times), max(times)), floor


def libvirt_start_floor(name, runs):
    """Median seconds for libvirt to start the defined, stopped domain
    `name` (python3-libvirt, which virtinst brings): what any tool pays."""
    import libvirt  # pylint: disable=import-outside-toplevel
    conn = libvirt.open("qemu:///system")
    domain = conn.lookupByName(name)
    times = []
    for _ in range(runs):
        start = time.monotonic()
        domain.create()
        times.append(time.monotonic() - start)
        domain.destroy()
    conn.close()
    return statistics.median(times), min(times), max(times)


def sized_image(gib):
    """The test guest's kernel and initrd with a golden disk of `gib` GiB,
    every byte allocated."""
    out = os.path.join(ROOT, f"target/bench/image-{gib}g")
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o755)
    for f in ("vmlinuz", "initrd.img"):
        shutil.copy(os.path.join(GUEST, f), out)
    disk = os.path.join(out, "disk.qcow2")
    if not os.path.exists(disk):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=falloc",
                        disk, f"{gib}G"], check=True)
    return out


def main():
    rows = []
    dpe = Dpe(GUEST, "bench-main")
    steps = {}
    try:
        med, lo, hi = deploy_median(dpe, 20, "seq", steps)
        rows.append(("dpe deploy, accepted -> running (median of 20)", f"{med*1000:.0f} ms", f"min {lo*1000:.0f}, max {hi*1000:.0f}"))
        for name, took in steps.items():
            rows.append((f"  of which step {name} (median)", f"{statistics.median(took)*1000:.1f} ms", ""))
        accepted, done, ran = burst(dpe, 20)
        rows.append(("20 deploys sent at once: all accepted", f"{accepted*1000:.0f} ms",
                     f"{ran} placed and running, the rest refused for room, all settled after {done:.2f} s"))
    finally:
        dpe.stop()
    (vi, vlo, vhi), (fl, flo, fhi) = virt_install_median(10)
    rows.append(("virt-install --import, same guest (median of 10)", f"{vi*1000:.0f} ms", f"min {vlo*1000:.0f}, max {vhi*1000:.0f}"))
    rows.append(("speed-up over virt-install", f"{vi/med:.1f}x", ""))
    rows.append(("libvirt alone: start a defined domain (median of 10)", f"{fl*1000:.0f} ms", f"min {flo*1000:.0f}, max {fhi*1000:.0f}"))
    for gib in (1, 20):
        dpe = Dpe(sized_image(gib), f"bench-{gib}g")
        try:
            med_g, lo, hi = deploy_median(dpe, 5, f"g{gib}")
            rows.append((f"dpe deploy from a {gib} GiB golden image (median of 5)", f"{med_g*1000:.0f} ms", f"min {lo*1000:.0f}, max {hi*1000:.0f}"))
        finally:
            dpe.stop()
    width = max(len(r[0]) for r in rows)
    print("\nengine benchmark (TCG host, real libvirtd)")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>9}  {note}")


if __name__ == "__main__":
    sys.exit(main())
