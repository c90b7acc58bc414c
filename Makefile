PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test install lint bench clean fuzz test-postgres test-replicas test-s3 test-vision test-radosgw test-asr test-spaces test-peft-full test-compile

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[server,datasets,dev,s3]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/cove serve --seed

test: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --durations=40 tests
	$(BIN)/python -m pytest -n 0 -m isolated tests/tokenizers

# the long schemathesis run (minutes), which `make test` leaves out (pytest's addopts deselect -m fuzz)
fuzz: $(STAMP)
	$(BIN)/python -m pytest -m fuzz tests/e2e/test_fuzz.py

# tests/e2e and tests/server again with every Hub on PostgreSQL (minutes); `make test` runs a part of them
test-postgres: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/python -m pytest -m postgres_full tests/e2e/test_postgres_suites.py

# two Hub replicas behind nginx on PostgreSQL, the heavy part (`make test` runs the rest of the file)
test-replicas: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/python -m pytest tests/e2e/test_replicas.py -m 'replicas_full or not replicas_full'

# tests/e2e and tests/server again with every Hub's blobs on S3 (minutes); `make test` runs a part of them
test-s3: $(STAMP)
	$(BIN)/python -m pytest -m s3_full tests/e2e/test_s3_suites.py

# the S3 tests (tests/e2e/test_s3.py, presigned Xet fetch faults, the replicas) on Ceph's radosgw, a store
# that checks signatures (minutes; Debian's radosgw, ceph-mon and ceph-osd, which `make test` does not install)
test-radosgw: $(STAMP)
	bash scripts/test-setup.sh
	bash scripts/test-setup-radosgw.sh
	$(BIN)/python -m pytest -m radosgw tests/e2e/test_s3_suites.py

# Whisper against transformers on real speech, with the LibriVox word error rate (minutes)
test-asr: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/python -m pytest -m asr_full tests/pipelines/test_asr.py tests/formats/test_ctranslate2.py -s

# the Space tests with the heavy part: a Streamlit Space in a browser (installs Streamlit; minutes)
test-spaces: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/python -m pytest tests/spaces -m 'spaces_full or not spaces_full'

# LoRA on the real SmolLM2 and MiniLM: the held-out metric improves over the base (minutes)
test-peft-full: $(STAMP)
	$(BIN)/python -m pytest -m peft_full tests/peft/test_real_data.py -s

# compiled decode steps on disk and in the background: several torch.compile runs (minutes)
test-compile: $(STAMP)
	$(BIN)/python -m pytest -m compile_cache tests/generation/test_compile_cache.py -s -n 0

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV)

# the Trainer fine-tuning a small ViT on Fashion-MNIST (Debian's dataset-fashion-mnist), which `make test` leaves out
test-vision: $(STAMP)
	bash scripts/test-setup.sh
	$(BIN)/python -m pytest -m vision_full tests/training/test_vision.py -s
