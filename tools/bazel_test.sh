#!/usr/bin/env bash
# Runs `bazel test //...` offline, with Debian's Bazel (bazel-bootstrap 4.2.3)
# and this repository's virtual environment as the Python interpreter.
#
#   python3 -m venv .venv && .venv/bin/pip install -e ".[test]"
#   bash tools/bazel_test.sh [extra bazel test flags, e.g. //:losses_test]
#
# Bazel's own repositories (rules_cc, rules_java, ...) would be downloaded
# from the internet; Debian ships stand-ins for them in bazel-bootstrap-source,
# which this script unpacks once into a cache directory and passes with
# --override_repository. The interpreter is registered as a toolchain in a
# generated repository, so nothing in the source tree names a local path.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${VENV_PYTHON:-$ROOT/.venv/bin/python3}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tensorflow_gnn_dink_bazel"

if [ ! -x "$PYTHON" ]; then
  echo "No interpreter at $PYTHON: create the virtual environment first" \
       "(see README) or set VENV_PYTHON." >&2
  exit 2
fi
if ! command -v bazel >/dev/null; then
  apt-get update -qq && apt-get install -y -qq bazel-bootstrap >/dev/null
fi

mkdir -p "$CACHE"
REPOS="$CACHE/mock_repos"
if [ ! -d "$REPOS/rules_cc" ]; then
  staging="$(mktemp -d)"
  (cd "$staging" && apt-get download bazel-bootstrap-source >/dev/null &&
   dpkg-deb -x bazel-bootstrap-source_*.deb src)
  rm -rf "$REPOS"
  cp -r "$staging/src/usr/src/bazel-bootstrap/mock_repos" "$REPOS"
  rm -rf "$staging"
fi
# No stand-in ships for the coverage tools that every test rule refers to.
mkdir -p "$REPOS/remote_coverage_tools"
touch "$REPOS/remote_coverage_tools/WORKSPACE"
printf '#!/bin/sh\nexit 0\n' > "$REPOS/remote_coverage_tools/dummy.sh"
chmod +x "$REPOS/remote_coverage_tools/dummy.sh"
cat > "$REPOS/remote_coverage_tools/BUILD" <<'BUILD'
package(default_visibility = ["//visibility:public"])
filegroup(name = "coverage_report_generator", srcs = ["dummy.sh"])
filegroup(name = "lcov_merger", srcs = ["dummy.sh"])
BUILD

# The virtual environment's interpreter as Bazel's Python toolchain.
TOOLCHAIN="$CACHE/venv_python"
mkdir -p "$TOOLCHAIN"
touch "$TOOLCHAIN/WORKSPACE"
cat > "$TOOLCHAIN/BUILD" <<BUILD
load("@bazel_tools//tools/python:toolchain.bzl", "py_runtime_pair")
py_runtime(name = "runtime", interpreter_path = "$PYTHON",
           python_version = "PY3")
py_runtime_pair(name = "runtime_pair", py3_runtime = ":runtime")
toolchain(name = "toolchain", toolchain = ":runtime_pair",
          toolchain_type = "@bazel_tools//tools/python:toolchain_type")
BUILD

overrides=()
for repo in rules_cc rules_java rules_proto platforms bazel_skylib \
            remote_coverage_tools; do
  overrides+=("--override_repository=$repo=$REPOS/$repo")
done
overrides+=("--override_repository=remote_java_tools=$REPOS/remote_java_tools_linux"
            "--override_repository=remote_java_tools_linux=$REPOS/remote_java_tools_linux"
            "--override_repository=venv_python=$TOOLCHAIN")

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(//...)
exec bazel test "${overrides[@]}" --extra_toolchains=@venv_python//:toolchain \
  --test_env=TF_USE_LEGACY_KERAS=1 --test_output=errors "${targets[@]}"
