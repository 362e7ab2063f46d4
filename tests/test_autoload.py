"""Plain ``lm_eval`` discovers ``hneuron-hf`` and our tasks; unrelated processes stay unaffected."""

import json
import os
import subprocess
import sys

from hneuron_eval import _autoload


def run_python(code: str, **env) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_startup_imports_nothing_heavy():
    out = run_python(
        "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'lm_eval', 'numpy', 'typing', 'importlib.abc')))"
    )
    assert out == "[]"
    assert run_python("import sys; print('hneuron_eval._autoload' in sys.modules)") == "True"


def test_model_is_registered_when_lm_eval_loads_its_models():
    code = (
        "from lm_eval.api.registry import get_model; import sys\n"
        "assert 'hneuron_eval.harness.lm_model' not in sys.modules  # lazy until used\n"
        "print(get_model('hneuron-hf').__name__, get_model('hf').__name__)"
    )
    assert run_python(code) == "HNeuronLM HFLM"


def test_opt_out_leaves_lm_eval_untouched():
    code = (
        "from lm_eval.api.registry import model_registry; import lm_eval.models; print('hneuron-hf' in model_registry)"
    )
    assert run_python(code, HNEURON_EVAL_NO_AUTOLOAD="1") == "False"


def test_task_manager_scans_our_folder_without_include_path():
    # the index is built from the default folders; ours must be among them
    code = (
        "from lm_eval.tasks import TaskManager\n"
        "import lm_eval.tasks.manager as m\n"
        "seen = []\n"
        "orig = m.TaskIndex.build\n"
        "m.TaskIndex.build = lambda self, paths, *a, **k: seen.extend(map(str, paths)) or {}\n"
        "TaskManager(); TaskManager(include_path='/tmp/x'); TaskManager(include_defaults=False)\n"
        "import json; print(json.dumps(seen))"
    )
    seen = json.loads(run_python(code))
    ours = _autoload.tasks_dir()
    assert seen.count(ours) == 2  # added for both default-scanning managers, not for include_defaults=False
    assert "/tmp/x" in seen


def test_tasks_dir_is_the_checkout_folder_in_a_source_install():
    assert os.path.isdir(_autoload.tasks_dir())
    assert os.path.basename(_autoload.tasks_dir()) == "tasks"
