"""The README's API example runs as written (in a fresh process)."""
import testing_utils  # First: Keras 2 before TensorFlow.

import re
import subprocess
import sys


class ReadmeTest(testing_utils.TestCase):

  def test_readme_python_example_runs(self):
    readme = (testing_utils.ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    code = code.replace("/tmp/dink_api", self.create_tempdir().full_path)
    proc = subprocess.run([sys.executable, "-c", code],
                          cwd=str(testing_utils.ROOT), capture_output=True,
                          text=True, timeout=600)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn("(500, 4)", proc.stdout)


if __name__ == "__main__":
  testing_utils.main()
