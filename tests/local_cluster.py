"""A TensorFlow cluster of local processes on 127.0.0.1, for tests.

`run(commands, timeout_s)` starts one process per task with its own
`TF_CONFIG` (ports free at the time of the call), waits for all of them
within `timeout_s` and kills every process group it started whatever
happens (a timeout, a failure of one task, an exception in the test), so a
hanging collective fails the test instead of stalling it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class Finished:
  """One task's process: its `TF_CONFIG` task, exit status and output."""
  task_type: str
  task_id: int
  returncode: int
  output: str


class ClusterTimeout(AssertionError):
  """The cluster did not finish in time (its processes were killed)."""


def free_ports(count: int) -> list[int]:
  """`count` distinct TCP ports on 127.0.0.1 that are free right now."""
  sockets = []
  try:
    for _ in range(count):
      s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      s.bind(("127.0.0.1", 0))
      sockets.append(s)
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def run(commands: Mapping[str, Sequence[Sequence[str]]], *,
        timeout_s: float, env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        wait_for: Sequence[str] | None = None) -> list[Finished]:
  """Runs `commands[task_type][task_id]` as the cluster's tasks.

  Args:
    commands: Per job name (`"worker"`, `"ps"`, `"chief"`), the command line
      of each of its tasks.
    timeout_s: Wall-clock limit for the whole cluster.
    wait_for: The jobs whose tasks end the run when they have all exited
      (the others, e.g. parameter-server-strategy servers that never exit,
      are then killed and reported with their signal as return code);
      default: every job.
    env: Extra environment variables for every process.
    cwd: Working directory of the processes.

  Returns:
    The finished tasks, in the order of `commands`.

  Raises:
    ClusterTimeout: not all tasks finished within `timeout_s`; the message
      holds the end of each task's output.
  """
  tasks = [(job, i) for job, lines in commands.items()
           for i in range(len(lines))]
  ports = iter(free_ports(len(tasks)))
  cluster = {job: [f"127.0.0.1:{next(ports)}" for _ in lines]
             for job, lines in commands.items()}
  started = []
  logs = []
  try:
    for job, i in tasks:
      log = tempfile.TemporaryFile(mode="w+")
      logs.append(log)
      process_env = dict(os.environ, **(env or {}), TF_CONFIG=json.dumps(
          {"cluster": cluster, "task": {"type": job, "index": i}}))
      started.append(subprocess.Popen(
          list(commands[job][i]), env=process_env, cwd=cwd, stdout=log,
          stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + timeout_s
    pending = [p for (job, _), p in zip(tasks, started)
               if wait_for is None or job in wait_for]
    while pending:
      pending = [p for p in pending if p.poll() is None]
      if any(p.returncode for p in started if p.returncode is not None):
        break  # One task failed: the others would wait for it forever.
      if time.monotonic() > deadline:
        _kill(started)
        raise ClusterTimeout(
            f"the cluster did not finish within {timeout_s:.0f}s:\n" +
            _tails(tasks, logs))
      time.sleep(0.2)
  finally:
    _kill(started)
  finished = []
  for (job, i), process, log in zip(tasks, started, logs):
    process.wait()
    log.seek(0)
    finished.append(Finished(job, i, process.returncode, log.read()))
    log.close()
  return finished


def _kill(processes: Sequence[subprocess.Popen]) -> None:
  for process in processes:
    if process.poll() is None:
      try:
        os.killpg(process.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
  for process in processes:
    try:
      process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      pass


def _tails(tasks, logs) -> str:
  parts = []
  for (job, i), log in zip(tasks, logs):
    log.seek(0)
    parts.append(f"--- {job} {i}:\n{log.read()[-2000:]}")
  return "\n".join(parts)
