"""Issue 12 cases 1 and 2: a model folder that is not a LLaVA-OneVision checkpoint fails at once with
an error naming the file, in a real worker-like process (a regression would hang: transformers would
build and randomly initialise the default 7B config, so the child gets a generous timeout)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LOAD = (
    "import sys\n"
    "from linkedout.extract.backbone import load_backbone, ModelFolderError\n"
    "try:\n"
    "    load_backbone(sys.argv[1])\n"
    "except ModelFolderError as e:\n"
    "    print(e); sys.exit(3)\n"
)


def _load_in_child(folder: Path) -> subprocess.CompletedProcess[str]:
    repo_py = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-c", LOAD, str(folder)],
        capture_output=True, text=True, timeout=120, cwd=repo_py, env={"PYTHONPATH": str(repo_py), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )


def test_folder_without_config_json_fails_naming_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-config"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "config.json").unlink()
    r = _load_in_child(folder)
    assert r.returncode == 3, r.stderr[-2000:]
    assert r.stdout.strip().startswith(f"{folder / 'config.json'}: missing")


def test_text_only_architecture_fails_naming_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "qwen2"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    text_config = config["text_config"]
    # what a text-only Qwen2 checkpoint's config.json says about itself
    qwen2 = {**text_config, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}
    (folder / "config.json").write_text(json.dumps(qwen2))
    r = _load_in_child(folder)
    assert r.returncode == 3, r.stderr[-2000:]
    line = r.stdout.strip()
    assert line.startswith(f"{folder / 'config.json'}: architectures ['Qwen2ForCausalLM']")
    assert "LlavaOnevisionForConditionalGeneration" in line


def test_each_json_file_of_the_folder_is_checked_before_loading(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Issue 22: a damaged tokenizer or processor config names the file, not the tokenizers library's error."""
    from linkedout.extract.backbone import ModelFolderError, check_model_dir

    check_model_dir(tiny_model_dir)  # the real folder passes
    names = sorted(p.name for p in tiny_model_dir.glob("*.json") if p.name != "config.json")
    assert "tokenizer_config.json" in names
    for name, damage, expected in (
        ("tokenizer_config.json", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not valid JSON: it ends early (truncated?)"),
        ("tokenizer_config.json", lambda p: p.write_text("[1, 2]"), "expected a JSON object, got list"),
        ("tokenizer_config.json", lambda p: p.write_bytes(b'{"a": "caf\xe9"}'), "not UTF-8: byte 0xe9 at byte offset 10"),
        ("tokenizer_config.json", lambda p: p.write_bytes(b""), "empty (0 bytes)"),
        (names[-1], lambda p: (p.unlink(), p.mkdir()), "a directory, not a file"),
    ):
        folder = tmp_path / f"damaged-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(tiny_model_dir, folder)
        damage(folder / name)
        with pytest.raises(ModelFolderError) as err:
            check_model_dir(folder)
        assert str(err.value) == f"{folder / name}: {expected}"
