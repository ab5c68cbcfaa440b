"""Writes docs/api.md, the API reference, from the docstrings.

  python tools/gen_api_docs.py           # rewrites docs/api.md
  python tools/gen_api_docs.py --check   # exit 1 if docs/api.md is stale

Documents every public name of `tensorflow_gnn_dink` (the library: what
`import tensorflow_gnn_dink as dink` exports) and the recipe's entry points
(`RECIPE`). `tests/api_docs_test.py` checks that docs/api.md is current.
"""
from __future__ import annotations

import inspect
import os
import pathlib
import re
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "api.md"
sys.path.insert(0, str(ROOT))

import tensorflow_gnn_dink as dink  # pylint: disable=g-import-not-at-top,wrong-import-position

# The recipe's entry points for users of the library: module -> names.
RECIPE = {
    "tensorflow_gnn_dink.recipe.pipeline": ["run"],
    "tensorflow_gnn_dink.recipe.config": ["default_config", "validate"],
    "tensorflow_gnn_dink.recipe.data": ["Graph", "to_graph_tensor",
                                        "make_csbm", "with_feature_format"],
    "tensorflow_gnn_dink.recipe.loaders": ["load"],
    "tensorflow_gnn_dink.recipe.saved_run": ["load_config", "read_graph",
                                             "restore", "Restored", "predict",
                                             "evaluate", "export"],
    "tensorflow_gnn_dink.recipe.assignments": ["write", "read"],
    "tensorflow_gnn_dink.recipe.evaluation": ["evaluate"],
    "tensorflow_gnn_dink.recipe.strategies": ["make_strategy", "serve",
                                              "is_chief"],
    "tensorflow_gnn_dink.recipe.sampling": ["write_unigraph", "sample",
                                            "cluster_samples", "embed_roots",
                                            "ReverseEdges"],
}


class _Annotation:
  """An annotation written as in the source (not quoted, as `str` shows)."""

  def __init__(self, text: str):
    self._text = text

  def __repr__(self) -> str:
    return self._text


def _signature(obj) -> str:
  try:
    signature = inspect.signature(obj)
  except (TypeError, ValueError):
    return "(...)"
  signature = signature.replace(
      parameters=[p.replace(annotation=_Annotation(p.annotation))
                  if isinstance(p.annotation, str) else p
                  for p in signature.parameters.values()],
      return_annotation=(_Annotation(signature.return_annotation)
                         if isinstance(signature.return_annotation, str)
                         else signature.return_annotation))
  text = str(signature)
  # No memory addresses: the file must not change between runs.
  return re.sub(r" at 0x[0-9a-f]+", "", text)


def _doc(obj) -> str:
  return inspect.cleandoc(obj.__doc__) if obj.__doc__ else ""


def _public_methods(cls) -> list[tuple[str, object]]:
  """Methods and properties defined by `cls` itself, not inherited."""
  found = []
  for name, member in vars(cls).items():
    if name.startswith("_") and name != "__init__":
      continue
    if name == "__init__" or isinstance(member, (types.FunctionType,
                                                 property, classmethod,
                                                 staticmethod)):
      found.append((name, member))
  return found


def _section(qualified: str, obj, level: str = "###") -> list[str]:
  lines = []
  if inspect.isclass(obj):
    lines += [f"{level} `{qualified}`", "", f"```python\nclass "
              f"{qualified.rsplit('.', 1)[-1]}{_signature(obj)}\n```", ""]
    lines += [_doc(obj), ""] if _doc(obj) else []
    for name, member in _public_methods(obj):
      if name == "__init__":
        lines += [_doc(member), ""] if _doc(member) else []
        continue
      function = member.fget if isinstance(member, property) else (
          member.__func__ if isinstance(member, (classmethod, staticmethod))
          else member)
      doc = _doc(function)
      if not doc and name in ("get_config", "from_config", "call", "build"):
        continue  # Keras protocol methods without anything to add.
      kind = "property " if isinstance(member, property) else ""
      head = (f"`{name}`" if kind else f"`{name}{_signature(function)}`")
      lines += [f"- {kind}{head}" + (":" if doc else "")]
      if doc:
        lines += ["", *("  " + l if l else "" for l in doc.splitlines()), ""]
    return lines
  if callable(obj):
    lines += [f"{level} `{qualified}`", "", f"```python\n"
              f"{qualified.rsplit('.', 1)[-1]}{_signature(obj)}\n```", ""]
  else:
    lines += [f"{level} `{qualified}`", "", f"`{obj!r}`", ""]
  lines += [_doc(obj), ""] if callable(obj) and _doc(obj) else []
  return lines


def _library_names() -> list[tuple[str, object]]:
  return [(name, value) for name, value in vars(dink).items()
          if not name.startswith("_") and not isinstance(value,
                                                         types.ModuleType)]


def render() -> str:
  """The text of docs/api.md."""
  lines = [
      "# API reference", "",
      "Generated from the docstrings by `python tools/gen_api_docs.py` (a "
      "test checks it is current); do not edit by hand.", "",
      "## The library: `import tensorflow_gnn_dink as dink`", ""]
  by_module: dict[str, list[tuple[str, object]]] = {}
  for name, value in _library_names():
    module = getattr(value, "__module__", dink.__name__)
    by_module.setdefault(module, []).append((name, value))
  index = []
  for module, members in by_module.items():
    index.append(f"- `{module}`: " + ", ".join(
        f"[`{n}`](#dink{n.lower()})" for n, _ in members))
  lines += index + [""]
  for module, members in by_module.items():
    lines += [f"### Module `{module}`", ""]
    module_doc = _doc(sys.modules[module]).split("\n\n")[0]
    lines += [module_doc, ""] if module_doc else []
    for name, value in members:
      lines += _section(f"dink.{name}", value, level="####")
  lines += ["## The recipe: `tensorflow_gnn_dink.recipe`", "",
            "The whole Dink-Net recipe (what `tfgnn-dink` runs), for use "
            "from Python.", ""]
  for module, names in RECIPE.items():
    mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
    lines += [f"### Module `{module}`", ""]
    module_doc = _doc(mod).split("\n\n")[0]
    lines += [module_doc, ""] if module_doc else []
    for name in names:
      lines += _section(f"{module.rsplit('.', 1)[-1]}.{name}",
                        getattr(mod, name), level="####")
  text = "\n".join(lines)
  return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def main() -> int:
  text = render()
  if "--check" in sys.argv[1:]:
    if not OUTPUT.exists() or OUTPUT.read_text() != text:
      print(f"{OUTPUT} is stale: run python tools/gen_api_docs.py")
      return 1
    return 0
  OUTPUT.write_text(text)
  print(f"wrote {os.path.relpath(OUTPUT, ROOT)} ({len(text)} characters)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
