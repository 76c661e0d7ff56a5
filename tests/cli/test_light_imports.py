"""``vlmtransfer --help`` must answer at once: it imports no numerical or ML library (issue 29; it took
1.2-1.8 s when ``cli/analyze.py`` imported the analysis, and so scipy, at load time)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "pandas", "scipy", "torch", "transformers", "matplotlib", "PIL", "pyarrow")


def test_help_imports_nothing_heavy():
    code = (
        "import json, sys\n"
        "from vlmtransfer.cli.main import app\n"
        "from typer.main import get_command\n"
        "get_command(app)  # what --help builds: every command's parameters\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_the_analysis_package_loads_its_modules_on_first_use():
    code = (
        "import json, sys\n"
        "from vlmtransfer.analysis.power import detectable_pgf\n"
        "loaded = 'pandas' in sys.modules\n"
        "from vlmtransfer.analysis import AnalysisOptions\n"
        "print(json.dumps([loaded, AnalysisOptions.__module__]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [False, "vlmtransfer.analysis.pipeline"]
