"""Build the wheels and install one domain package into a fresh environment: it must bring jepa-core and no
other domain, register its model with AutoModel on import, and load a saved model back."""

import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = sorted(p for p in (ROOT / "packages").iterdir() if p.name != "core" and list(p.glob("src/*/domain.py")))
UV = shutil.which("uv")

pytestmark = pytest.mark.skipif(UV is None, reason="the install check needs uv")

CHECK = """
import importlib.metadata as metadata, sys, tempfile, torch
from transformers import AutoModel
from jepa_core.domain import available_domains

name, distribution = sys.argv[1], sys.argv[2]
installed = {d.metadata["Name"] for d in metadata.distributions()}
others = sorted(n for n in installed if n.startswith("jepa-") and n not in ("jepa-core", distribution))
assert not others, f"{distribution} pulled other domains: {others}"
domains = available_domains()
assert list(domains) == [name], domains
domain = domains[name]
model = domain.model_class(domain.config_class.from_preset("tiny")).eval()
folder = tempfile.mkdtemp()
model.save_pretrained(folder)
loaded = AutoModel.from_pretrained(folder)
assert type(loaded) is domain.model_class, type(loaded)
expected, state = model.state_dict(), loaded.state_dict()
assert expected.keys() == state.keys() and all(torch.equal(expected[k], state[k]) for k in expected)
print("ok", distribution)
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run([UV, "build", "--all-packages", "--wheel", "--out-dir", str(out)], cwd=ROOT, check=True)
    return out


@pytest.mark.parametrize("package", DOMAINS, ids=[p.name for p in DOMAINS])
def test_one_domain_installs_alone_and_loads(package, wheels, tmp_path):
    distribution = tomllib.loads((package / "pyproject.toml").read_text())["project"]["name"]
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [UV, "pip", "install", "-q", "--python", str(python), "--find-links", str(wheels), distribution],
        check=True,
    )
    script = tmp_path / "check.py"
    script.write_text(textwrap.dedent(CHECK))
    result = subprocess.run(
        [str(python), str(script), package.name, distribution],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"ok {distribution}" in result.stdout
