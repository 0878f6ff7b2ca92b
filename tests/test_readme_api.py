"""The README's Python API example runs as written."""
from __future__ import annotations

import os
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, capsys):
    block = re.search(r"<!-- api-example -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README.md lost its api-example block"
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block.group(1), "README.md", "exec"), {})
    finally:
        os.chdir(here)
    printed = capsys.readouterr().out
    assert "stolen" in printed and "auc" in printed
    assert (tmp_path / "results" / "quick" / "run.json").is_file() and (tmp_path / "found.safetensors").is_file()
