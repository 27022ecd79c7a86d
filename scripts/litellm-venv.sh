#!/usr/bin/env bash
# Create (once) a separate virtual environment with the LiteLLM proxy, for the decision-service hook
# test. LiteLLM pins packages that clash with stillwatch's (rich, websockets), so it never goes
# into .venv. Idempotent: an existing working venv is reused.
#
# Usage:  scripts/litellm-venv.sh            # last line: the venv's python
#         LITELLM_VENV=/tmp/x scripts/litellm-venv.sh
set -euo pipefail

VENV="${LITELLM_VENV:-/tmp/stillwatch-litellm-venv}"
PIN="litellm[proxy]==1.108.7"   # research/stack-check.md item 14: newest installable with [proxy]
here="$(cd "$(dirname "$0")/.." && pwd)"
UV="${here}/.venv/bin/uv"
export LITELLM_LOCAL_MODEL_COST_MAP=True

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import litellm.proxy.proxy_server" >/dev/null 2>&1; then
  echo "$VENV/bin/python"
  exit 0
fi
echo "litellm-venv: creating $VENV with $PIN" >&2
if [ -x "$UV" ]; then
  "$UV" venv --quiet --python "$(command -v python3.11 || command -v python3)" "$VENV" >&2
  "$UV" pip install --quiet --python "$VENV/bin/python" "$PIN" >&2
else
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "$PIN" >&2
fi
"$VENV/bin/python" -c "import litellm.proxy.proxy_server" >&2
echo "$VENV/bin/python"
