"""What the docs must explain, because users ask."""

from __future__ import annotations

import math
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_docs_say_why_gaussian_elbos_are_negative():
    text = " ".join((DOCS / "evaluation.md").read_text().split())
    assert "Why a Gaussian likelihood gives negative −ELBOs" in text
    # the per-pixel constant the explanation quotes, for σ = 0.1
    constant = math.log(0.1) + 0.5 * math.log(2 * math.pi)
    assert f"{constant:.2f}".replace("-", "−") in text
