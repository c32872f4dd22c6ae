"""The Rasa process runs the NLU's embedding featurizer with one BLAS thread (stack/assistant.py):
with one per core, the idle thread spun on the second core after every message."""

import pytest

from stack.assistant import StackConfig, build_services

pytestmark = pytest.mark.unit


def services(tmp_path, **kwargs):
    config = StackConfig(rasa_bin="rasa", actions_python="python", model="m.tar.gz",
                         var_dir=tmp_path, **kwargs)
    return {service.name: service for service in build_services(config)}


def test_rasa_gets_one_blas_thread(tmp_path):
    assert services(tmp_path)["Rasa server"].env["OPENBLAS_NUM_THREADS"] == "1"
    assert "OPENBLAS_NUM_THREADS" not in services(tmp_path)["action server"].env


def test_an_explicit_setting_wins(tmp_path):
    found = services(tmp_path, extra_env={"OPENBLAS_NUM_THREADS": "2"})
    assert found["Rasa server"].env["OPENBLAS_NUM_THREADS"] == "2"
