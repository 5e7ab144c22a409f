"""The README's real example: nitime's resting fMRI ROI series (optional: skipped without nitime)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from brain_jepa import BrainJepaConfig, BrainJepaModel, BrainJepaProcessor, brain_gradients_from_timeseries

nitime = pytest.importorskip("nitime")


def test_nitime_roi_series_run_through_processor_gradients_and_encoder():
    path = Path(nitime.__file__).parent / "data" / "fmri_timeseries.csv"
    table = pd.read_csv(path)  # 250 TRs × 31 ROIs, named columns, TR 1.89 s
    config = BrainJepaConfig.from_preset("tiny")
    processor = BrainJepaProcessor.from_config(config).fit([table.to_numpy()])  # layout found from 31 ROIs
    series = processor.to_roi_time(table.to_numpy())
    assert series.shape == (31, 250)
    gradients = brain_gradients_from_timeseries([series], config.gradient_components)
    assert gradients.shape == (31, 8) and np.isfinite(gradients).all()
    model = BrainJepaModel(config).eval()
    model.set_brain_gradients(gradients)
    crop = processor.process_subject(table.to_numpy())
    assert crop.shape == (31, 96) and abs(float(crop.median())) < 0.2
    assert model(crop[None]).last_hidden_state.shape == (1, 31 * 6, 96)
    with torch.no_grad():
        assert torch.isfinite(model(crop[None]).last_hidden_state).all()
        torch.testing.assert_close(
            model(**processor(table.to_numpy())).last_hidden_state, model(crop[None]).last_hidden_state
        )
