"""A private single-node SLURM cluster for the tests (tests/test_slurm.py).

Debian's packages (slurmctld, slurmd, slurm-client, munge) are installed when missing; nothing
else of the machine's set-up is used or changed. There is no systemd here, so this module starts
the daemons itself, in the foreground, as its own child processes:

* ``munged`` with its own key, socket, seed, pid and log files in the cluster's directory (the
  system's /etc/munge and /run/munge are left alone; slurm.conf's ``AuthInfo=socket=...`` points
  SLURM at this socket);
* ``slurmctld`` and ``slurmd`` on free TCP ports, with a slurm.conf written into the cluster's
  directory. Clients find it through ``SLURM_CONF`` (see :attr:`SlurmCluster.env`) and through a
  link at the default place, /etc/slurm/slurm.conf, made only where no other file is there and
  removed again by :meth:`SlurmCluster.stop`: inside a job, snakemake-executor-plugin-slurm-jobstep
  starts the job's ``srun`` with every ``SLURM_*`` variable but a few removed, ``SLURM_CONF``
  included, and ``srun`` then finds no configuration unless it is at the default place.

The configuration is what the plugin needs on a cluster without accounting (see
workflow/profiles/slurm/config.yaml): no slurmdbd, so ``sacct`` has nothing to say and job status
comes from ``squeue``, which sees finished jobs only for ``MinJobAge`` seconds; ``DefMemPerCPU``
so that a job without a memory request does not take the whole node; cons_tres with
CR_Core_Memory so that jobs share the node by cores and memory; proctrack/linuxproc and task/none
(no cgroups).

:meth:`SlurmCluster.stop` cancels what is left in the queue and ends the daemons and the job steps
of this cluster, by process id.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
DAEMONS = {
    "munged": "/usr/sbin/munged",
    "slurmctld": "/usr/sbin/slurmctld",
    "slurmd": "/usr/sbin/slurmd",
}
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
# Seconds that a finished job stays visible to squeue (the plugin's status command here). The
# plugin needs at least 3 x its initial status-check delay (40 s by default), else it falls back
# to sacct, which without accounting never reports the job.
MIN_JOB_AGE = 600
# Memory (MB) a job gets per CPU when it asks for none (otherwise: the whole node's memory).
DEF_MEM_PER_CPU = 1000
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
MARK = "# Written by tests/slurm_cluster.py"


class ClusterError(RuntimeError):
    """SLURM could not be installed or started; the message says why."""


def _installed(package: str) -> bool:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return proc.returncode == 0 and proc.stdout.strip().endswith(" installed")


def ensure_installed(timeout: float = 600) -> None:
    """Install the Debian packages of a single-node SLURM when missing (as root, with apt)."""
    missing = [p for p in PACKAGES if not _installed(p)]
    if not missing and all(Path(p).exists() for p in DAEMONS.values()):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterError(
            f"SLURM packages {missing} are missing and cannot be installed here "
            "(installing needs root and apt-get)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    install[1:1] = ["-o", "DPkg::Lock::Timeout=120"]  # wait for another apt/dpkg at work
    deadline = time.monotonic() + timeout
    updated = False
    while True:
        proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=timeout)
        if proc.returncode == 0:
            return
        text = proc.stdout[-2000:] + proc.stderr[-2000:]
        if time.monotonic() > deadline:
            raise ClusterError(f"apt-get install {' '.join(PACKAGES)} failed:\n{text}")
        if "lock" in text.lower():  # another apt/dpkg at work: wait for it
            time.sleep(5)
        elif not updated:  # stale package lists on a fresh machine
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=timeout)
            updated = True
        else:
            raise ClusterError(f"apt-get install {' '.join(PACKAGES)} failed:\n{text}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise ClusterError("no MemTotal in /proc/meminfo")


def _tail(path: Path, n: int = 30) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        return f"({path}: {err})"
    return "\n".join(lines[-n:])


class SlurmCluster:
    """One node (this machine), one default partition, daemons owned by this object."""

    def __init__(self, cpus: int | None = None, mem_mb: int | None = None):
        # short path: it holds munged's Unix socket (at most 107 characters)
        self.root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        self.node = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        # leave room for the OS and for Snakemake itself
        self.mem_mb = mem_mb or int(_mem_total_mb() * 0.8)
        self.conf = self.root / "slurm.conf"
        self.socket = self.root / "munge" / "munge.socket"
        self.procs: dict[str, subprocess.Popen] = {}
        self.linked = False  # whether /etc/slurm/slurm.conf is this cluster's link
        self.logs = {
            "munged": self.root / "munge" / "munged.log",
            "slurmctld": self.root / "slurmctld.log",
            "slurmd": self.root / "slurmd.log",
        }

    @property
    def env(self) -> dict[str, str]:
        """The environment for SLURM's clients (and Snakemake): this cluster's slurm.conf."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    # set-up -------------------------------------------------------------------------------

    def write_conf(self) -> None:
        spool, state = self.root / "spool", self.root / "state"
        spool.mkdir()
        state.mkdir()
        text = f"""\
{MARK}: a one-node cluster on this machine, no accounting.
ClusterName=attnlimits
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={self.root / "slurmctld.pid"}
SlurmdPidFile={self.root / "slurmd.pid"}
SlurmctldLogFile={self.logs["slurmctld"]}
SlurmdLogFile={self.logs["slurmd"]}
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups (no systemd here): processes tracked through /proc, no task confinement
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no slurmdbd: sacct reports that accounting storage is disabled; status comes from squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for this long (>= 3 x the plugin's first status delay)
MinJobAge={MIN_JOB_AGE}
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# jobs share the node by cores and memory; without DefMemPerCPU a job takes all the memory
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={DEF_MEM_PER_CPU}
# the node as configured here, even if the hardware seen by slurmd differs (fewer is fine)
SlurmdParameters=config_overrides
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} State=UNKNOWN
PartitionName=test Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        self.conf.write_text(text)
        # the default place, for srun inside jobs (see the module's docstring)
        if DEFAULT_CONF.is_symlink() or DEFAULT_CONF.exists():
            try:
                theirs = DEFAULT_CONF.read_text(errors="replace")
            except OSError:  # a dangling link, left by an earlier run that was killed
                theirs = MARK
            if not theirs.startswith(MARK):
                raise ClusterError(
                    f"{DEFAULT_CONF} exists and was not written by this test: jobs would use that "
                    "cluster's configuration; move it aside to run this test"
                )
            DEFAULT_CONF.unlink()
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self.linked = True

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.out").open("w")
        self.procs[name] = subprocess.Popen(
            [DAEMONS[name], *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log.close()

    def start_munge(self) -> None:
        munge = self.socket.parent
        self.root.chmod(0o755)  # munged wants its socket's directories searchable by all
        munge.mkdir(mode=0o755)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self._spawn(
            "munged",
            "--foreground",
            f"--socket={self.socket}",
            f"--key-file={key}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--log-file={self.logs['munged']}",
            f"--seed-file={munge / 'munged.seed'}",
            "--force",  # run as root, and over a stale socket of an earlier run
        )
        self._wait(lambda: self.socket.exists(), "munged", 20)

    def start(self, timeout: float = 90) -> None:
        """Install if needed, start munged, slurmctld and slurmd, wait for the node to be idle."""
        ensure_installed()
        missing = [c for c in CLIENTS if not shutil.which(c)]
        if missing:
            raise ClusterError(f"SLURM clients missing after installation: {missing}")
        self.write_conf()
        self.start_munge()
        self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._wait(
            lambda: self._ok("scontrol", "ping") and "UP" in self._out("scontrol", "ping"),
            "slurmctld",
            timeout,
        )
        self._spawn("slurmd", "-D", "-f", str(self.conf), "-N", self.node)
        self._wait(
            lambda: self._out("sinfo", "-h", "-N", "-o", "%t").strip() == "idle",
            "slurmd (node idle)",
            timeout,
        )

    def _ok(self, *cmd: str) -> bool:
        return subprocess.run(cmd, env=self.env, capture_output=True, timeout=30).returncode == 0

    def _out(self, *cmd: str) -> str:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        return proc.stdout

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ClusterError(
                        f"{name} exited with {proc.returncode} while waiting for "
                        f"{what}\n{self.diagnostics()}"
                    )
            try:
                if ready():
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.5)
        raise ClusterError(f"{what} not ready after {timeout} s\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        parts = [f"slurm.conf: {self.conf}"]
        for name in ("munged", "slurmctld", "slurmd"):
            parts.append(f"--- {name} output:\n{_tail(self.root / f'{name}.out', 10)}")
            parts.append(f"--- {name} log:\n{_tail(self.logs[name])}")
        for cmd in (("sinfo", "-N", "-l"), ("squeue", "--states=all")):
            try:
                parts.append(f"--- {' '.join(cmd)}:\n{self._out(*cmd)}")
            except (OSError, subprocess.TimeoutExpired) as err:
                parts.append(f"--- {' '.join(cmd)}: {err}")
        return "\n".join(parts)

    # queries --------------------------------------------------------------------------------

    def jobs(self) -> list[dict[str, str]]:
        """Every job that squeue still knows (finished ones for MinJobAge seconds)."""
        out = self._out("squeue", "--states=all", "-h", "-o", "%i|%j|%T|%C|%m|%k")
        keys = ("id", "name", "state", "cpus", "mem", "comment")
        return [dict(zip(keys, line.split("|"), strict=True)) for line in out.splitlines()]

    # tear-down ------------------------------------------------------------------------------

    def _step_pids(self) -> list[int]:
        """Processes of this cluster's jobs: whatever runs with this SLURM_CONF, daemons aside."""
        mine = f"SLURM_CONF={self.conf}".encode()
        own = {p.pid for p in self.procs.values()} | {os.getpid()}
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in own:
                continue
            try:
                env = (entry / "environ").read_bytes().split(b"\0")
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if mine in env or (b"slurmstepd" in cmd and str(self.root).encode() in cmd):
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        """Cancel every job, end the daemons and the job steps; the directory is removed."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                ids = [j["id"] for j in self.jobs() if j["state"] in ("PENDING", "RUNNING")]
                if ids:
                    subprocess.run(["scancel", *ids], env=self.env, capture_output=True, timeout=30)
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline and any(
                        j["state"] in ("PENDING", "RUNNING", "COMPLETING") for j in self.jobs()
                    ):
                        time.sleep(0.5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in self._step_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if (
            self.linked
            and DEFAULT_CONF.is_symlink()
            and DEFAULT_CONF.resolve() == self.conf.resolve()
        ):
            DEFAULT_CONF.unlink()
        shutil.rmtree(self.root, ignore_errors=True)
