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


def test_every_commands_help_page_renders_without_anything_heavy():
    """What ``vlmtransfer --help`` and ``vlmtransfer <verb> --help`` print, every verb and sub-verb: the
    rendering too (rich, the epilogs), not only the parameters."""
    code = (
        "import json, sys\n"
        "from typer.main import get_command\n"
        "from typer.testing import CliRunner\n"
        "from vlmtransfer.cli.main import app\n"
        "def paths(command, prefix=()):\n"
        "    yield prefix\n"
        "    for name, sub in getattr(command, 'commands', {}).items():\n"
        "        yield from paths(sub, (*prefix, name))\n"
        "every = list(paths(get_command(app)))\n"
        "failed = [a for a in every if CliRunner().invoke(app, [*a, '--help']).exit_code != 0]\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps([len(every), failed, heavy]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pages, failed, heavy = json.loads(result.stdout)
    assert pages > 20  # the app, its verbs and the data and model sub-verbs
    assert failed == []
    assert heavy == []


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
