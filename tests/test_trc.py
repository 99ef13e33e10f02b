"""TRC marker files: write -> read round trips, the header OpenSim reads, Pose2Sim's Z-up to Y-up
turn, and malformed files refused with the file and line named."""
from __future__ import annotations

import numpy as np
import pytest

from bodyfit.fileio.trc import read_trc, write_trc, zup_to_yup

NAMES = ["Hip", "RKnee", "LKnee"]


def markers_with_gaps(frames: int = 5) -> np.ndarray:
    """(T, 3, 3) metres; marker 1 missing in frame 2, every marker missing in frame 3, the last
    marker (the row's trailing fields) missing in frame 4."""
    markers = np.random.default_rng(0).normal(size=(frames, len(NAMES), 3))
    markers[2, 1] = np.nan
    markers[3] = np.nan
    markers[4, 2] = np.nan
    return markers


def test_round_trip_with_gaps(tmp_path):
    markers = markers_with_gaps()
    write_trc(tmp_path / "walk.trc", markers, NAMES, fps=30.0, first_frame=10)
    data = read_trc(tmp_path / "walk.trc")
    assert data.names == NAMES and data.fps == 30.0 and data.units == "m"
    np.testing.assert_array_equal(data.frame_numbers, [10, 11, 12, 13, 14])
    np.testing.assert_allclose(data.times, (9 + np.arange(5)) / 30.0, rtol=0, atol=1e-12)  # frame 10 at 9/30 s
    np.testing.assert_array_equal(np.isnan(data.markers), np.isnan(markers))
    np.testing.assert_array_equal(data.markers, markers)  # written exactly: NaN where NaN, equal elsewhere


def test_millimetres(tmp_path):
    markers = markers_with_gaps()
    write_trc(tmp_path / "walk.trc", markers, NAMES, fps=100.0, units="mm")
    data = read_trc(tmp_path / "walk.trc")
    assert data.units == "mm"
    np.testing.assert_allclose(data.markers, markers * 1000.0, rtol=1e-15)


def test_y_up_turns_z_up_into_opensims_y_up(tmp_path):
    """Pose2Sim's zup2yup: (x, y, z) -> (y, z, x). A point 1.7 m up (Z) comes out 1.7 m up (Y)."""
    point = np.array([[[0.3, -0.2, 1.7]]])
    write_trc(tmp_path / "up.trc", point, ["Head"], fps=60.0, y_up=True)
    np.testing.assert_allclose(read_trc(tmp_path / "up.trc").markers[0, 0], [-0.2, 1.7, 0.3])
    turn = zup_to_yup(np.eye(3))  # rows: the world's axes in OpenSim's
    np.testing.assert_allclose(turn, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert np.linalg.det(turn) == pytest.approx(1.0)  # a rotation, not a mirror


def test_header_fields(tmp_path):
    write_trc(tmp_path / "walk.trc", markers_with_gaps(), NAMES, fps=30.0, units="mm", first_frame=10)
    lines = (tmp_path / "walk.trc").read_text().split("\n")
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\twalk.trc"
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t")))
    assert header == {"DataRate": "30.0", "CameraRate": "30.0", "NumFrames": "5", "NumMarkers": "3",
                      "Units": "mm", "OrigDataRate": "30.0", "OrigDataStartFrame": "10", "OrigNumFrames": "5"}
    assert lines[3] == "Frame#\tTime\tHip\t\t\tRKnee\t\t\tLKnee\t\t"
    assert lines[4] == "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\tX3\tY3\tZ3"
    assert lines[5] == ""
    assert lines[6].split("\t")[:2] == ["10", "0.3"] and len(lines[6].split("\t")) == 2 + 9  # frame 10 at 9/30 s
    assert lines[9] == "13\t0.4" + "\t" * 9  # every marker missing: nine empty fields


def test_reads_rows_whose_trailing_empty_fields_were_dropped(tmp_path):
    write_trc(tmp_path / "walk.trc", markers_with_gaps(), NAMES, fps=30.0)
    text = "\n".join(line.rstrip("\t") for line in (tmp_path / "walk.trc").read_text().split("\n"))
    (tmp_path / "trimmed.trc").write_text(text)
    np.testing.assert_array_equal(read_trc(tmp_path / "trimmed.trc").markers, markers_with_gaps())


MALFORMED = {
    "not trc": (lambda lines: ["hello"] + lines[1:], "line 1"),
    "rate": (lambda lines: lines[:2] + [lines[2].replace("30.0", "fast", 1)] + lines[3:], "line 3"),
    "names": (lambda lines: lines[:3] + ["Frame#\tTime\tHip\t\t\tRKnee\t\t"] + lines[4:], "line 4"),
    "number": (lambda lines: lines[:7] + [lines[7].replace("\t", "\tx", 3)] + lines[8:], "line 8"),
    "too many fields": (lambda lines: lines[:8] + [lines[8] + "\t1.0"] + lines[9:], "line 9"),
    "frames": (lambda lines: lines[:-2], "line 3: NumFrames says 5"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_refused_with_file_and_line(tmp_path, case):
    edit, expected = MALFORMED[case]
    write_trc(tmp_path / "walk.trc", markers_with_gaps(), NAMES, fps=30.0)
    lines = (tmp_path / "walk.trc").read_text().split("\n")
    (tmp_path / "bad.trc").write_text("\n".join(edit(lines)))
    with pytest.raises(ValueError) as caught:
        read_trc(tmp_path / "bad.trc")
    assert str(caught.value).startswith(f"{tmp_path / 'bad.trc'}: {expected}"), str(caught.value)


def test_write_checks_its_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"markers must be \(T, M, 3\), got \(5, 3\)"):
        write_trc(tmp_path / "x.trc", np.zeros((5, 3)), NAMES, fps=30.0)
    with pytest.raises(ValueError, match="2 names for 3 markers"):
        write_trc(tmp_path / "x.trc", np.zeros((5, 3, 3)), NAMES[:2], fps=30.0)
    with pytest.raises(ValueError, match="units must be one of"):
        write_trc(tmp_path / "x.trc", np.zeros((5, 3, 3)), NAMES, fps=30.0, units="cm")
    assert list(tmp_path.iterdir()) == []
