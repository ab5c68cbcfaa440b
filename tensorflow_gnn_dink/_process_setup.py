"""Process settings of the command line, made before TensorFlow loads.

`tfgnn-dink` and `python -m tensorflow_gnn_dink` import this package (and so
TensorFlow) before their own code runs, and TensorFlow reads its settings
and writes its start-up log (CUDA probing on machines without a GPU, CPU
instruction sets) while it is imported. So the package `__init__` calls
`configure_if_command_line()` first; it does nothing in other programs
(library users, tests), which keep TensorFlow's behaviour as they set it.

For the command line it
  * sets TensorFlow's C++ log level to errors (`TF_CPP_MIN_LOG_LEVEL=2`)
    and its BFC allocator for CPU tensors (`TF_CPU_ALLOCATOR_USE_BFC=true`:
    freed buffers are kept for the next step instead of being returned to
    the OS and faulted in again), unless the environment sets them;
  * unless run with `--verbosity=1` (or higher), passes the process' native
    stderr through a filter that drops TensorFlow's informational C++ log
    lines, which its log level does not reach because they are written
    before TensorFlow initialises its logging (`I0000 ... cudart_stub.cc`),
    and its errors that are none (`E0000 ... failed call to cuInit` on a
    machine without a GPU, `E0000 ... NodeDef mentions attribute ... This
    may be expected ...` from tf.data). Every other line (errors, Python
    tracebacks, crashes) passes unchanged. The filter is a forked process
    reading a pipe: it outlives a crash of the command, so nothing the
    command wrote is lost.
"""
import atexit
import os
import re
import signal
import sys
import time

_COMMAND = "tfgnn-dink"
_PACKAGE = "tensorflow_gnn_dink"
_NOISE = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "  # C++ INFO and WARNING.
    # No GPU, or a dataset attribute unknown to the runtime: not errors.
    rb"|E\d{4} .*(?:cuInit|Unable to register cu|This may be expected if "
    rb"your graph generating binary is newer)"
    rb"|WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|To enable the following instructions: )")


def is_command_line(argv=None, orig_argv=None) -> bool:
  """Whether this process is `tfgnn-dink` or `python -m tensorflow_gnn_dink`."""
  argv = sys.argv if argv is None else argv
  orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
  if argv and os.path.basename(argv[0]) == _COMMAND:
    return True
  for i, arg in enumerate(orig_argv[1:-1], start=1):
    if arg == "-m":
      return orig_argv[i + 1] == _PACKAGE
    if not arg.startswith("-"):
      return False  # A script, not -m.
  return False


def verbosity(argv) -> int:
  """The `-v/--verbosity` given on the command line (absl's flag), or 0."""
  for i, arg in enumerate(argv):
    match = re.fullmatch(r"(?:-v|--verbosity)(?:=(-?\d+))?", arg)
    if match:
      value = match.group(1) or (argv[i + 1] if i + 1 < len(argv) else "0")
      try:
        return int(value)
      except ValueError:
        return 0
  return 0


def is_noise(line: bytes) -> bool:
  """Whether `line` is TensorFlow start-up log the command line hides."""
  return bool(_NOISE.match(line))


def configure_if_command_line() -> None:
  """Sets the command line's process settings (see module docstring)."""
  if not is_command_line():
    return
  os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
  if verbosity(sys.argv[1:]) >= 1:
    return  # Everything, as TensorFlow logs it.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if "tensorflow" not in sys.modules:
    _filter_native_stderr()


def _filter_native_stderr() -> None:
  """Routes file descriptor 2 through a forked filter process."""
  try:
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
  except OSError:
    return  # No filter: only noisier.
  if pid == 0:  # The filter: until every writer has closed the pipe.
    os.close(write_end)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command.
    try:
      with os.fdopen(read_end, "rb") as lines:
        for line in lines:
          view = memoryview(b"" if is_noise(line) else line)
          while view:
            view = view[os.write(2, view):]
    finally:
      os._exit(0)  # pylint: disable=protected-access
  os.close(read_end)
  os.dup2(write_end, 2)
  os.close(write_end)
  atexit.register(_wait_for_filter, pid)


def _wait_for_filter(pid: int, timeout_s: float = 5.0) -> None:
  """At exit: closes the pipe and lets the filter write out what it holds.

  Without this the shell could print its next prompt before the command's
  last lines on stderr. Bounded: a child process still holding the pipe
  open only delays the exit by `timeout_s`.
  """
  try:
    sys.stderr.flush()
  except (OSError, ValueError):
    pass
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)  # Our end of the pipe closed: the filter sees EOF.
  os.close(devnull)
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    try:
      if os.waitpid(pid, os.WNOHANG)[0]:
        return
    except ChildProcessError:
      return
    time.sleep(0.01)
