"""The Python API: every example of docs/api.md runs as written, and the API's contracts hold
(a task is refused with a clear error, a run read back equals what was written)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests.conftest import REPO

API_PAGE = REPO / "docs" / "api.md"


def page_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API_PAGE.read_text(), flags=re.S)


@pytest.mark.slow
def test_every_example_of_the_api_page_runs(tmp_path, monkeypatch, capsys):
    """The page's blocks run in order in one namespace, from a copy of the repository's
    examples (so the page's relative paths hold and nothing is written into the checkout)."""
    import shutil

    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    examples = page_examples()
    assert len(examples) == 3
    namespace: dict = {}
    for block in examples:
        exec(compile(block, str(API_PAGE), "exec"), namespace)  # noqa: S102 - the page's own examples
    printed = capsys.readouterr().out
    assert printed.startswith("ok ")
    assert "{'ok': 3, 'skipped': 0, 'failed': 0} 4" in printed
    fit = namespace["fit"]
    assert fit.reprojection_error_px < 5.0  # the example's keypoints carry 1.5 px of noise
    people = namespace["read_results"]("output/api_example")
    assert [(p.image, p.person) for p in people] == [("single_front", 0), ("single_side", 0),
                                                     ("two_people", 0), ("two_people", 1)]
    # read back equals what the run wrote
    with np.load(tmp_path / "output/api_example/results/two_people/001.npz") as written:
        assert np.array_equal(people[3].params["body_pose"], written["body_pose"])
        assert np.array_equal(people[3].keypoints_3d, written["keypoints_3d"])


def test_a_task_of_the_wrong_shape_is_refused_naming_it(monkeypatch):
    from bodyfit.api import BodyFitter

    fitter = BodyFitter(overrides={"init": "rest"})
    with pytest.raises(ValueError, match=r"keypoints must be \(25, 3\) or \(118, 3\), got \(24, 3\)"):
        fitter.task(np.zeros((24, 3)), (100, 100))
    assert fitter.task(np.zeros((25, 3)), (100, 100)) is None  # nobody seen: nothing to fit
    with pytest.raises(ValueError, match=r"tasks \[0\] are None"):
        fitter.fit([None])
    with pytest.raises(ValueError, match="model_type must be one of"):
        BodyFitter("SMPLX")


def test_reading_a_folder_without_a_run_is_a_clear_error(tmp_path):
    from bodyfit.api import read_results

    with pytest.raises(FileNotFoundError, match="no run there"):
        read_results(tmp_path)
    (tmp_path / "results" / "a").mkdir(parents=True)
    (tmp_path / "results" / "a" / "image.json").write_text("{broken")
    with pytest.raises(ValueError, match="image.json: not a readable image record"):
        read_results(tmp_path)
