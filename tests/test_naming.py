"""One name for each quantity in help, errors, docs and figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparsevae.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
# α (and γ) are probabilities that a code element is *active*, the slab: calling them a spike
# (the zero) probability, or a slab probability in one place and something else in another, says
# the opposite or confuses readers.
MISNAMED_ALPHA = re.compile(r"(spike|slab)[ -]probabilit", re.IGNORECASE)


def test_alpha_is_never_called_a_spike_or_slab_probability_in_code_or_docs():
    files = [*ROOT.glob("src/**/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md"]
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if MISNAMED_ALPHA.search(line)
    ]
    assert not found


@pytest.mark.parametrize("verb", [["train"], ["reproduce", "uai2019"], ["reproduce", "iclr2019"]])
def test_help_names_alpha_as_the_probability_of_an_active_element(verb, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*verb, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert not MISNAMED_ALPHA.search(text)
    if "--alpha" in text:
        assert "probability that a code element is active" in text
