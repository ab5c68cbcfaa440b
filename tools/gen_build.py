"""Regenerates BUILD from the package tree and the imports: python3 tools/gen_build.py."""
import ast, glob, os
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)

def target(path):
  rel = os.path.relpath(path, ROOT)
  if rel.startswith("tests/"):
    return os.path.basename(rel)[:-3]
  parts = rel[len("tensorflow_gnn_dink/"):-3].split("/")
  if parts == ["__init__"]: return "tensorflow_gnn_dink"
  if parts == ["recipe", "__init__"]: return "recipe"
  return "_".join(p.lstrip("_") for p in parts)

def module_path(mod, name):
  # from mod import name
  if mod == "tensorflow_gnn_dink":
    p = f"tensorflow_gnn_dink/{name}.py"
  elif mod == "tensorflow_gnn_dink.recipe":
    p = f"tensorflow_gnn_dink/recipe/{name}.py"
  else:
    return None
  return p if os.path.exists(p) else None

def deps_of(path):
  tree = ast.parse(open(path).read())
  deps = set()
  for n in ast.walk(tree):
    if isinstance(n, ast.ImportFrom) and n.module:
      for a in n.names:
        p = module_path(n.module, a.name)
        if p: deps.add(":" + target(p))
    if isinstance(n, ast.Import):
      for a in n.names:
        if a.name == "tensorflow_gnn_dink": deps.add(":tensorflow_gnn_dink")
        if a.name == "testing_utils": deps.add(":testing_utils")
        elif os.path.exists(f"tests/{a.name}.py"): deps.add(":" + a.name)
  deps.discard(":" + target(path))
  if "/recipe/" in path and not path.endswith("__init__.py"):
    deps.add(":recipe")
  return sorted(deps)

lib = sorted(glob.glob("tensorflow_gnn_dink/*.py"))
rec = sorted(glob.glob("tensorflow_gnn_dink/recipe/*.py"))
tests = sorted(glob.glob("tests/*_test.py"))
out = ['''# Bazel targets of tensorflow_gnn_dink, in TF-GNN's style: one py_library per
# module, one py_test per test file (each ends in tf.test.main(), so Bazel runs
# its tests). Third-party packages (tensorflow, tensorflow_gnn, numpy, ...)
# come from the Python environment; see README ("Bazel") for running
# `bazel test //...` with the project's virtual environment.

package(default_visibility = ["//visibility:public"])

licenses(["notice"])

exports_files(["requirements.txt", "requirements-test.txt"])
''']
def fmt_list(key, items):
  if not items: return ""
  if len(items) == 1: return f'    {key} = ["{items[0]}"],\n'
  return f"    {key} = [\n" + "".join(f'        "{i}",\n' for i in items) + "    ],\n"

out.append("# The library: what a TF-GNN user imports. It never depends on the recipe.\n")
for section, files in (("lib", lib), ("rec", rec)):
  if section == "rec":
    out.append("# The recipe and its command line (tensorflow_gnn_dink/recipe/).\n")
  for f in files:
    if f.endswith("__main__.py"): continue
    out.append(f'py_library(\n    name = "{target(f)}",\n    srcs = ["{f}"],\n    srcs_version = "PY3",\n' + fmt_list("deps", deps_of(f)) + ")\n")
out.append('''py_binary(
    name = "tfgnn_dink",
    srcs = ["tensorflow_gnn_dink/__main__.py"],
    main = "tensorflow_gnn_dink/__main__.py",
    python_version = "PY3",
    deps = [":recipe_cli"],
)
''')
out.append("# Tests: `python tests/NAME_test.py`, `pytest tests` or `bazel test //...`.\n")
out.append('''py_library(
    name = "testing_utils",
    testonly = True,
    srcs = ["tests/testing_utils.py"],
    srcs_version = "PY3",
    deps = [
        ":recipe_data",
        ":tensorflow_gnn_dink",
    ],
)
''')
# Helpers of the tests (a test's subprocesses run some of them as scripts).
helpers = sorted(h for h in glob.glob("tests/*.py") if not h.endswith(
    ("_test.py", "conftest.py", "testing_utils.py")))
for h in helpers:
  out.append(f'py_library(\n    name = "{os.path.basename(h)[:-3]}",\n    testonly = True,\n    srcs = ["{h}"],\n    srcs_version = "PY3",\n' + fmt_list("deps", deps_of(h)) + ")\n")
sizes = {}
for t in tests:
  name = target(t)
  size = "large" if name in ("cli_test", "pipeline_test", "stages_test", "runner_integration_test", "readme_test") else "medium"
  data = ""
  if name in ("cli_test", "readme_test", "build_test", "config_test"):
    data = '    data = glob(["configs/*.py"]) + ["BUILD", "README.md"],\n'
  if name == "benchmarks_test":
    data = '    data = glob(["benchmarks/*.py", "configs/*.py"]),\n'
  if name == "distribute_test":
    data = '    data = ["tests/distributed_worker.py"],\n'
  deps = set(deps_of(t))
  if name == "distribute_test":  # Its subprocesses run the worker.
    deps.add(":distributed_worker")
  if name == "benchmarks_test":  # It imports the benchmark scripts.
    for script in glob.glob("benchmarks/*.py"):
      deps.update(deps_of(script))
  out.append(f'py_test(\n    name = "{name}",\n    size = "{size}",\n    srcs = ["{t}"],\n{data}    main = "{t}",\n    python_version = "PY3",\n' + fmt_list("deps", sorted(deps)) + ")\n")
open("BUILD", "w").write("\n".join(out))
print("ok", len(lib), len(rec), len(tests))
