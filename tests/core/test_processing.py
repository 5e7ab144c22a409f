import numpy as np
import pytest
from jepa_core.processing import SavableProcessor


class Scaler(SavableProcessor):
    def __init__(self, mean: list[float], scale: float):
        self.mean, self.scale = mean, scale

    def to_dict(self) -> dict:
        return {"mean": self.mean, "scale": self.scale}


class Other(Scaler):
    pass


def test_processor_round_trip_and_clear_errors(tmp_path):
    path = Scaler(np.array([0.5, 1.5]), np.float32(2.0)).save_pretrained(tmp_path)
    assert path.name == "preprocessor_config.json"
    loaded = Scaler.from_pretrained(tmp_path)
    assert loaded.mean == [0.5, 1.5] and loaded.scale == 2.0
    with pytest.raises(ValueError, match="written by Scaler, not Other"):
        Other.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        Scaler.from_pretrained(tmp_path / "missing")
