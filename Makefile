# Two commands: `make run` (the app, offline engine) and `make test` (the whole suite + eval gate).
# Everything installs from the repo with uv and the machine's Python 3.11 (never a downloaded one).
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PORT ?= 8501
EVAL_GATE ?= qwk=0.70,within_one=0.90,evidence_on_gold=0.70
# test processes (pytest-xdist): the five-minute retrain test runs beside the rest
TEST_WORKERS ?= 2

.PHONY: setup run test index eval-gate bench clean

setup:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --python 3.11 --quiet

index: setup
	$(UV) run grader index

run: index
	$(UV) run streamlit run app.py --server.headless true --server.port $(PORT) --browser.gatherUsageStats false

test: setup
	$(UV) run pytest -q -n $(TEST_WORKERS) --dist worksteal
	$(MAKE) --no-print-directory eval-gate

# CI gate: the offline engine on the dev split must stay above the thresholds
eval-gate: setup
	$(UV) run grader eval evals/customer-obsession.dev.jsonl --engine local --out out/eval-gate --fail-under $(EVAL_GATE)

bench: setup
	$(UV) run python bench/grade_latency.py

clean:
	rm -rf out .pytest_cache
