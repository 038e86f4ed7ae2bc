# The two commands of the README: `make demo` and `make test`.
# Both create .venv on their own; torch is the CPU build from this machine's disk.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: demo test bench venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e '.[test,plot,atari,distributed,tensorboard,video,mujoco,dmc,minigrid,minatar,export,stats,tune]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m launchers.dqn --env=gridworld:simple --observation_type=grid \
	    --num_steps=15000 --eval_every=5000 --video_every=15000

# Two pytest-xdist workers, one per core: the suite fits its 8-minute budget on 2 cores only this way.
test: $(STAMP)
	$(PY) -m pytest -q -n 2

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) runs .pytest_cache
