"""Run directories written by sparsevae 0.1.0 (tests/fixtures/runs-0.1.0, one per model kind, made
by `sparsevae train ... --epochs 1` on digits) still load to the same model and resume exactly.

expected.json was recorded by 0.1.0 itself (tests/fixtures/record_expected.py): the codes of four
test digits, and the training loss after resuming each run for one more epoch.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch

import sparsevae
from sparsevae.cli.main import main
from sparsevae.training import read_metrics

FIXTURES = Path(__file__).parent / "fixtures" / "runs-0.1.0"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def test_every_registered_kind_has_a_fixture():
    assert set(EXPECTED) == {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert set(EXPECTED) <= set(sparsevae.MODELS)


@pytest.fixture(scope="module")
def digits():
    return sparsevae.load_dataset("digits")


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_old_run_loads_to_the_same_codes(kind, digits):
    model = sparsevae.load(FIXTURES / kind)
    y = digits.test_y[:4] if model.num_classes else None
    with torch.no_grad():
        codes = model.encode(digits.test_x[:4], y)
    torch.testing.assert_close(codes, torch.tensor(EXPECTED[kind]["codes"]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_old_run_resumes_exactly(kind, tmp_path):
    run = tmp_path / kind
    shutil.copytree(FIXTURES / kind, run)
    assert (
        main(["--threads", "1", "train", "--resume", str(run), "--epochs", "2", "--no-progress"])
        == 0
    )
    last = read_metrics(run)[-1]
    assert last["epoch"] == EXPECTED[kind]["resumed_epoch"]  # closed-form fits: 1
    assert last["train/loss"] == pytest.approx(EXPECTED[kind]["resumed_train_loss"], rel=1e-4)
