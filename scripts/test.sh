#!/usr/bin/env bash
# The whole test suite: Rust (unit, integration, end-to-end through aws-sdk-lambda) and Python
# (pytest with boto3 and the AWS CLI against the built binary, Python functions under awslambdaric).
#
# Installs what the Python tests need into a virtualenv outside the repository
# ($INVOKD_VENV, default ~/.cache/invokd/venv), so a fresh machine needs only Rust and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${INVOKD_VENV:-$HOME/.cache/invokd/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/py/requirements.txt

echo "== cargo build"
cargo build --workspace --all-targets --locked

echo "== cargo test"
INVOKD_PYTHON="$VENV/bin/python" cargo test --workspace --locked

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== pytest"
INVOKD_BIN="$PWD/target/debug/invokd" INVOKD_PYTHON="$VENV/bin/python" PATH="$VENV/bin:$PATH" \
  "$VENV/bin/python" -m pytest -q tests/py "$@"
