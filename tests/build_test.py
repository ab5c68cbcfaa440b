"""BUILD declares a py_library per module and a py_test per test file.

BUILD is evaluated with recording stand-ins for the Bazel rules, so this runs
without Bazel; `bazel test //...` itself is described in the README.
"""
import testing_utils  # First: Keras 2 before TensorFlow.

import ast
import glob
import os

ROOT = str(testing_utils.ROOT)
_PACKAGES = {"tensorflow_gnn_dink": "tensorflow_gnn_dink",
             "tensorflow_gnn_dink.recipe": "tensorflow_gnn_dink/recipe"}


def _targets() -> list[tuple[str, dict]]:
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
      os.path.relpath(f, ROOT) for p in patterns
      for f in glob.glob(os.path.join(ROOT, p)))
  with open(os.path.join(ROOT, "BUILD")) as f:
    exec(compile(f.read(), "BUILD", "exec"), scope)  # pylint: disable=exec-used
  return targets


def _package_imports(path: str) -> set[str]:
  """Source files of this project that `path` imports."""
  tree = ast.parse(open(os.path.join(ROOT, path)).read())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module in _PACKAGES:
      for alias in node.names:
        source = f"{_PACKAGES[node.module]}/{alias.name}.py"
        if os.path.exists(os.path.join(ROOT, source)):
          found.add(source)
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name == "testing_utils":
          found.add("tests/testing_utils.py")
        if alias.name == "tensorflow_gnn_dink":
          found.add("tensorflow_gnn_dink/__init__.py")
  found.discard(path)
  return found


class BuildTest(testing_utils.TestCase):

  def setUp(self):
    super().setUp()
    self.targets = _targets()
    self.by_name = {kw["name"]: (kind, kw) for kind, kw in self.targets
                    if "name" in kw}

  def _srcs(self, kind: str) -> set[str]:
    return {s for k, kw in self.targets if k == kind
            for s in kw.get("srcs", [])}

  def test_every_module_and_test_file_has_a_target(self):
    modules = {os.path.relpath(p, ROOT) for p in glob.glob(
        os.path.join(ROOT, "tensorflow_gnn_dink", "**", "*.py"),
        recursive=True)}
    modules.discard("tensorflow_gnn_dink/__main__.py")
    self.assertEmpty(modules - self._srcs("py_library"))
    test_files = {os.path.relpath(p, ROOT) for p in
                  glob.glob(os.path.join(ROOT, "tests", "*_test.py"))}
    self.assertEqual(test_files, self._srcs("py_test"))
    for _, kw in self.targets:
      for dep in kw.get("deps", []):
        self.assertIn(dep.lstrip(":"), self.by_name, (kw["name"], dep))

  def test_deps_cover_each_files_imports(self):
    by_src = {kw["srcs"][0]: kw for k, kw in self.targets
              if k in ("py_library", "py_test", "py_binary")}
    for src, kw in by_src.items():
      deps = {src_of for d in kw.get("deps", [])
              for src_of in self.by_name[d.lstrip(":")][1]["srcs"]}
      self.assertEmpty(_package_imports(src) - deps, src)

  def test_library_never_depends_on_the_recipe(self):
    for kind, kw in self.targets:
      src = kw.get("srcs", [""])[0]
      if kind != "py_library" or not src.startswith("tensorflow_gnn_dink/"):
        continue
      if src.startswith("tensorflow_gnn_dink/recipe/"):
        continue
      for dep in kw.get("deps", []):
        dep_src = self.by_name[dep.lstrip(":")][1]["srcs"][0]
        self.assertFalse(dep_src.startswith("tensorflow_gnn_dink/recipe/"),
                         (src, dep))

  def test_every_test_file_runs_its_tests_on_its_own(self):
    for path in glob.glob(os.path.join(ROOT, "tests", "*_test.py")):
      source = open(path).read()
      self.assertIn('if __name__ == "__main__":\n  testing_utils.main()',
                    source, path)
      self.assertTrue(source.split('"""', 2)[2].lstrip().startswith(
          "import testing_utils"), f"{path}: import testing_utils first")


if __name__ == "__main__":
  testing_utils.main()
