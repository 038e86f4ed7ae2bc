#!/usr/bin/env bash
# Create the peer-benchmark venv (stable-baselines3 + gymnasium on CPU torch).
# Kept apart from agentpipe's own dependencies on purpose: SB3 is only a
# comparison baseline and must never become a project dependency.
#
# Idempotent: does nothing if the venv exists and already imports
# stable_baselines3. Prints a single line on success; pip output goes to a log.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${PEERS_VENV:-$HERE/../.venv-peers}"
VENV="$(cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")"
PY="$VENV/bin/python"
TORCH_VERSION="2.13.0"
LOG="$VENV/setup.log"

pip_install() {
    if ! "$PY" -m pip install --disable-pip-version-check "$@" >>"$LOG" 2>&1; then
        echo "setup_venv.sh: pip install $* failed; see $LOG" >&2
        tail -n 30 "$LOG" >&2
        exit 1
    fi
}

optional_envpool() {
    # envpool is a throughput peer only; where no wheel installs, its row is skipped.
    if ! "$PY" -c "import envpool" >/dev/null 2>&1; then
        "$PY" -m pip install --disable-pip-version-check "envpool>=0.8" "torch==${TORCH_VERSION}" >>"$LOG" 2>&1 \
            || echo "setup_venv.sh: envpool did not install (see $LOG); its benchmark row is skipped" >&2
    fi
}

if [ -x "$PY" ] && "$PY" -c "import stable_baselines3, gymnasium, torch" >/dev/null 2>&1 \
        && ! "$PY" -c "import ale_py, cv2" >/dev/null 2>&1; then
    pip_install "ale-py>=0.10" "opencv-python-headless>=4.8" "torch==${TORCH_VERSION}"  # Venvs from before the Atari suites.
fi
if [ -x "$PY" ] && "$PY" -c "import stable_baselines3, gymnasium, torch, ale_py" >/dev/null 2>&1 \
        && ! "$PY" -c "import mujoco, imageio" >/dev/null 2>&1; then
    pip_install "mujoco>=3.1,<4" "imageio>=2.14" "torch==${TORCH_VERSION}"  # Venvs from before the MuJoCo suites.
fi
if [ -x "$PY" ] && "$PY" -c "import stable_baselines3, gymnasium, torch, ale_py, mujoco, imageio" >/dev/null 2>&1 \
        && ! "$PY" -c "import sb3_contrib" >/dev/null 2>&1; then
    pip_install "sb3-contrib>=2.4" "torch==${TORCH_VERSION}"  # Venvs from before the recurrent PPO comparison.
fi
if [ -x "$PY" ] && "$PY" -c "import stable_baselines3, sb3_contrib, gymnasium, torch, ale_py, mujoco, imageio" >/dev/null 2>&1; then
    optional_envpool
    echo "peers venv ready (existing): $VENV"
    exit 0
fi

python3 -m venv "$VENV"
: >"$LOG"

# 1. CPU torch first, so pip never resolves a CUDA build for SB3's torch requirement.
pip_install "torch==${TORCH_VERSION}"
# 2. SB3 and sb3-contrib (RecurrentPPO) (gymnasium 1.x support starts at 2.4) and gymnasium; pin torch to keep the CPU build.
# ale-py (which ships the ROMs) for the Atari comparisons; opencv for SB3's AtariWrapper.
# mujoco 3.x for gymnasium's MuJoCo tasks (HalfCheetah-v5, ...).
pip_install "stable-baselines3>=2.4" "sb3-contrib>=2.4" "gymnasium>=1.0" "ale-py>=0.10" "opencv-python-headless>=4.8" \
    "mujoco>=3.1,<4" "imageio>=2.14" "torch==${TORCH_VERSION}"

TV="$("$PY" -c 'import torch; print(torch.__version__)')"
case "$TV" in
    "${TORCH_VERSION}"+cpu|"${TORCH_VERSION}") ;;
    *) echo "setup_venv.sh: expected torch ${TORCH_VERSION}+cpu, got $TV" >&2; exit 1 ;;
esac
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.version.cuda is None else 1)'; then :; else
    echo "setup_venv.sh: torch in $VENV is a CUDA build; expected CPU" >&2; exit 1
fi

optional_envpool
"$PY" -c "import stable_baselines3 as sb3, gymnasium as gym, torch; print('peers venv ready:', '$VENV', 'sb3', sb3.__version__, 'gymnasium', gym.__version__, 'torch', torch.__version__)"
