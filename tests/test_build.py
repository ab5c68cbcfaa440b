"""BUILD declares a py_library per module and a py_test per test file."""
import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _targets():
  """Evaluates BUILD with recording stand-ins for the Bazel rules."""
  targets = []

  def rule(kind):
    def record(*args, **kwargs):
      del args  # licenses([...]), exports_files([...]).
      targets.append((kind, kwargs))
    return record

  scope = {name: rule(name) for name in (
      "py_library", "py_test", "py_binary", "package", "licenses",
      "exports_files")}
  scope["glob"] = lambda patterns: sorted(
      f for p in patterns for f in glob.glob(os.path.join(ROOT, p)))
  with open(os.path.join(ROOT, "BUILD")) as f:
    exec(compile(f.read(), "BUILD", "exec"), scope)  # pylint: disable=exec-used
  return targets


def test_every_module_and_test_file_has_a_target():
  targets = _targets()
  srcs = lambda kind: {os.path.relpath(os.path.join(ROOT, s), ROOT)
                       for k, kw in targets if k == kind
                       for s in kw.get("srcs", [])}
  modules = {os.path.relpath(p, ROOT) for p in
             glob.glob(os.path.join(ROOT, "tensorflow_gnn_dink", "*.py"))}
  modules.discard("tensorflow_gnn_dink/__main__.py")
  assert modules <= srcs("py_library"), modules - srcs("py_library")
  test_files = {os.path.relpath(p, ROOT) for p in
                glob.glob(os.path.join(ROOT, "tests", "test_*.py"))}
  assert test_files == srcs("py_test"), test_files ^ srcs("py_test")
  names = {kw["name"] for k, kw in targets if "name" in kw}
  for kind, kw in targets:
    for dep in kw.get("deps", []):
      assert dep.lstrip(":") in names, (kw["name"], dep)


def test_library_deps_cover_package_imports():
  """Each library's deps list the package modules its source imports."""
  by_src = {kw["srcs"][0]: kw for k, kw in _targets() if k == "py_library"
            and len(kw["srcs"]) == 1}
  for src, kw in by_src.items():
    if not src.startswith("tensorflow_gnn_dink/"):
      continue
    tree = ast.parse(open(os.path.join(ROOT, src)).read())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.module == "tensorflow_gnn_dink" for a in n.names}
    deps = {d.lstrip(":") for d in kw.get("deps", [])}
    missing = {m for m in imported if m.lstrip("_") not in deps}
    assert not missing, (src, missing)
