"""A start as fast as the page allows: what the page does not need is imported at first use, and the tabs' warm-ups
run after the server answers (bench/bench_start.py measures the seconds)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ui.kit import warm

ROOT = Path(__file__).resolve().parents[1]
# what a tab needs only when first used: the diffusion pipeline (diffusers, and transformers, peft and accelerate
# through it), C2PA signing, the room's database, the Ray and process backends, SmolLM2's GGUF reader, training code
LATER = ("diffusers", "transformers", "peft", "accelerate", "sympy", "c2pa", "sqlalchemy", "ray", "gguf", "training",
         "generators.serving.process_serve", "generators.serving.ray_serve", "generators.diffusion_pipeline")


def test_warm_ups_run_after_start_in_order_and_one_failing_leaves_the_next(monkeypatch):
    monkeypatch.setattr(warm, "_pending", [])
    ran = []

    def failing():
        ran.append("failing")
        raise RuntimeError("no weights")

    for step in (lambda: ran.append("first"), failing, lambda: ran.append("last")):
        warm.after_start(step)
    assert ran == []  # registered while the tabs are built: nothing runs yet
    warm.start().join(10)
    assert ran == ["first", "failing", "last"] and warm._pending == []


@pytest.mark.slow  # a fresh interpreter imports gradio and torch and builds every tab
def test_the_built_app_has_not_imported_what_tabs_load_at_first_use():
    code = ("import sys, app; app.build_demo(); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {LATER!r} or m in {LATER!r}))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
