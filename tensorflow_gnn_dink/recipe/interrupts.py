"""A Ctrl-C that is never lost: the command line's SIGINT handler remembers it.

Python raises `KeyboardInterrupt` wherever the main thread is when SIGINT
arrives. Raised inside a `__del__` method or a weakref callback (TensorFlow
runs many: iterators, functions, tensors being freed), it is printed as
"Exception ignored in ..." and the program goes on, so a run could finish
after its user pressed Ctrl-C. `install()` (the command line) makes SIGINT
raise as before and also remember that it came; `check()`, called after
every training epoch and every stage, raises it again if it was swallowed.
Programs that do not call `install()` keep Python's handler; `check()` is
then a no-op.
"""
import signal

_state = {"interrupted": False}


def install() -> None:
  """SIGINT raises `KeyboardInterrupt` and is remembered (main thread)."""
  signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(signum, frame) -> None:
  del signum, frame  # Unused.
  _state["interrupted"] = True
  raise KeyboardInterrupt


def check() -> None:
  """Raises `KeyboardInterrupt` if SIGINT came since `install()`."""
  if _state["interrupted"]:
    raise KeyboardInterrupt
