# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make demo   the main job on the embedded default
#   make test   lint + the default test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: install test test-slow lint format demo demo-paper bench bench-gpu readme-numbers clean

# TORCH_INDEX: where torch and torchvision come from. Empty: the registry's default wheels (CUDA builds on
# Linux, ~5 GB, which run on CPU too). A CPU-only machine can take the ~1 GB CPU builds instead:
#   make TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

$(STAMP): pyproject.toml constraints.txt
	@echo "== Creating $(VENV) and installing vlmtransfer with its extras: ml (torch, torchvision,"
	@echo "   transformers, PEFT: finetuning and evaluation), ray (the Ray executor), test (pytest, ruff)."
	@echo "   The torch wheels are the bulk (~5 GB with CUDA; see TORCH_INDEX in the Makefile for CPU-only)."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --progress-bar on -c constraints.txt \
		--index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt -e '.[test,ml,ray]'
	touch $(STAMP)
	@echo "== Installed into $(VENV)."

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

test: lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

# Exit code 5 means "no slow tests collected", which is not a failure.
test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]

# The main job on the embedded default: the tiny Qwen2.5-VL x the synthetic suite, a full transfer
# study (baselines, LoRA finetunes x 2 seeds, evaluation on every task), its analysis and report.
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/vlmtransfer demo --out $(DEMO_OUT)

# The transfer analysis of the paper's released PGF values (Qwen2.5-VL 3B/7B/32B x 13 BLINK x 4 seeds).
demo-paper: $(STAMP)
	$(BIN)/vlmtransfer analyze examples/paper-pgf/qwen2.5-vl-3B.csv \
		examples/paper-pgf/qwen2.5-vl-7B.csv examples/paper-pgf/qwen2.5-vl-32B.csv \
		--label 3B --label 7B --label 32B --model-order 3B,7B,32B --out $(DEMO_OUT)/paper-analysis
	$(BIN)/vlmtransfer report $(DEMO_OUT)/paper-analysis

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_analysis.py
	$(BIN)/python benchmarks/bench_bootstrap.py
	$(BIN)/python benchmarks/parsing_agreement.py
	$(BIN)/python benchmarks/bench_scoring.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/eval_throughput.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/train_throughput.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_encoding.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_predict.py

# The real-width benchmark at full depth in bf16 on a GPU (Qwen2.5-VL 3B, then 7B; random weights, no hub).
bench-gpu: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/real_size.py --device cuda --layers 0 --vision-depth 0 --questions 32 --adapters 4 --train-batch 8 --train-steps 4
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/real_size.py --device cuda --layers 0 --vision-depth 0 --questions 32 --adapters 4 --train-batch 8 --train-steps 4 --preset qwen2.5-vl-7b

# README's benchmark numbers, re-measured together (~5 min on 2 cores) into benchmarks/readme-numbers.json
# with the machine, and README's marked spans rewritten from it (the demo's own numbers are not among them).
readme-numbers: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/readme_numbers.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache .hypothesis test-artifacts
