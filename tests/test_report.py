"""The HTML report: built from a real (short) fit.py run over the shipped examples, rebuilt
from the folder alone, and loaded in a real headless Chromium from file://, where it must
run without a console message, sort, and draw the chosen fit in 3D."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from bodyfit.cli import fit
from bodyfit.report import ReportError, write_report
from bodyfit.report.histogram import histogram_svg
from bodyfit.report.meshdata import read_obj_faces
from tests.conftest import REPO

EXAMPLES = REPO / "examples"
PEOPLE = {"single_front": 1, "single_side": 1, "two_people": 2}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def run_output(tmp_path_factory, quick_config):
    """fit.py over the examples with a shortened schedule: the report is written at the end
    of the run."""
    output = tmp_path_factory.mktemp("report") / "out"
    code = fit.main(["--images", str(EXAMPLES / "images"), "--keypoints", str(EXAMPLES / "keypoints"),
                     "--output", str(output), "--config", str(quick_config), "--quiet"])
    assert code == 0
    return output


class TableReader(HTMLParser):
    """The people table's rows (each a list of its cells' ``data-v``), and the tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.headers: list[str] = []
        self.tags: dict[str, int] = {}
        self._in_table = self._in_th = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "table" and attrs.get("id") == "people":
            self._in_table = True
        elif self._in_table and tag == "tr" and "data-key" in attrs:
            self.rows.append([])
        elif self._in_table and tag == "td":
            self.rows[-1].append(attrs.get("data-v", ""))
        self._in_th = self._in_table and tag == "th"

    def handle_endtag(self, tag):
        self._in_table = self._in_table and tag != "table"
        self._in_th = False

    def handle_data(self, data):
        if self._in_th:
            self.headers.append(data)


def read_table(html: str) -> TableReader:
    reader = TableReader()
    reader.feed(html)
    return reader


def test_report_names_every_image_and_person(run_output):
    path = run_output / "report.html"
    html = path.read_text()
    table = read_table(html)
    assert len(table.rows) == sum(PEOPLE.values())
    column = {name: i for i, name in enumerate(table.headers)}
    records = {stem: json.loads((run_output / "results" / stem / "image.json").read_text()) for stem in PEOPLE}
    by_key = {(row[column["image"]], int(row[column["person"]])): row for row in table.rows}
    for stem, record in records.items():
        assert f'src="images/{stem}.png"' in html and f'id="image-{stem}"' in html
        for person in record["people"]:
            row = by_key[(stem, person["index"])]
            assert row[column["status"]] == person["status"] == "ok"
            assert float(row[column["2D error px"]]) == pytest.approx(person["reprojection_error_px"])
            assert float(row[column["loss"]]) == pytest.approx(person["loss"])
            assert float(row[column["time s"]]) == pytest.approx(person["time_s"])
            for name, figure in person.get("quality", {}).items():  # whatever figures the run measured
                assert float(row[column[name.replace("_", " ")]]) == pytest.approx(figure["value"])
            assert (run_output / "report_data" / f"{stem}_{person['index']:03d}.js").is_file()
    assert table.tags["svg"] >= 1 and table.tags["canvas"] == 1
    assert "http://" not in html and "https://" not in html and "fetch(" not in html  # opens offline, from disk


def test_mesh_data_round_trips(run_output):
    """The 3D view's data decode to the fitted vertices (within the uint16 step) and the
    model's faces."""
    import base64

    with np.load(run_output / "results" / "two_people" / "001.npz") as result:
        vertices = result["vertices"]
    script = (run_output / "report_data" / "two_people_001.js").read_text()
    name, data = re.fullmatch(r'bodyfitReport\.mesh\((".*?"), (\{.*\})\);\n', script).groups()
    assert json.loads(name) == "two_people/001"
    data = json.loads(data)
    q = np.frombuffer(base64.b64decode(data["q"]), dtype="<u2").reshape(-1, 3)
    decoded = np.array(data["lo"]) + q * np.array(data["step"])
    np.testing.assert_allclose(decoded, vertices, atol=float(max(data["step"])))
    faces_script = (run_output / "report_data" / f"{data['faces']}.js").read_text()
    encoded = json.loads(re.fullmatch(r"bodyfitReport\.faces\(.*?, (\".*\")\);\n", faces_script).group(1))
    faces = np.frombuffer(base64.b64decode(encoded), dtype="<u4").reshape(-1, 3)
    np.testing.assert_array_equal(faces, read_obj_faces(run_output / "meshes" / "two_people" / "001.obj"))


def test_rebuild_shows_figures_flags_and_video_fields(run_output, tmp_path):
    """``python -m report`` rebuilds from the folder; quality figures, flags, track ids and
    failed people in the records show up, whatever their names."""
    output = tmp_path / "copy"
    shutil.copytree(run_output, output, ignore=shutil.ignore_patterns("report.html", "report_data"))
    record_path = output / "results" / "two_people" / "image.json"
    record = json.loads(record_path.read_text())
    record["people"][0].update(quality={"made_up_figure": {"value": 7.5, "threshold": 5.0, "flag": True}},
                               flags=["made_up_figure"], track_id=4, frame_index=12)
    record["people"].append({"index": 2, "status": "skipped", "reason": "too few body keypoints"})
    record_path.write_text(json.dumps(record))
    done = subprocess.run([sys.executable, "-m", "bodyfit", "report", str(output), "--quiet"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    html = (output / "report.html").read_text()
    table = read_table(html)
    column = {name: i for i, name in enumerate(table.headers)}
    assert {"made up figure", "flags", "track id", "frame index", "reason"} <= set(column)
    rows = {(row[column["image"]], row[column["person"]]): row for row in table.rows}
    flagged = rows[("two_people", "0")]
    assert float(flagged[column["made up figure"]]) == 7.5 and flagged[column["flags"]] == "made_up_figure"
    assert float(flagged[column["track id"]]) == 4 and float(flagged[column["frame index"]]) == 12
    assert rows[("two_people", "2")][column["status"]] == "skipped"
    assert rows[("two_people", "2")][column["reason"]] == "too few body keypoints"
    assert 'class="num flagged"' in html and "1 flagged" in html  # the cell and the histogram's caption


def test_not_an_output_folder_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(ReportError, match="not a bodyfit output folder"):
        write_report(tmp_path / "photos")
    done = subprocess.run([sys.executable, "-m", "bodyfit", "report", str(tmp_path / "photos")], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode != 0 and "photos: not a bodyfit output folder" in done.stderr
    with pytest.raises(ReportError, match="no such folder"):
        write_report(tmp_path / "missing")


def test_histogram_counts_every_value():
    values = np.concatenate([np.linspace(1, 3, 99), [500.0]])  # one outlier goes in the last bin
    svg = histogram_svg(values, "2D error", " px", threshold=2.0)
    counts = [int(c) for c in re.findall(r"<title>[^<]*: (\d+)</title></rect>", svg)]
    assert sum(counts) == len(values) and "1 beyond" in svg and 'class="threshold"' in svg
    assert "no values" in histogram_svg(np.array([np.nan]), "empty")


def chromium() -> str:
    found = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if found is None:
        pytest.skip("no Chromium binary on PATH (Debian: apt-get install -y chromium)")
    return found


def load_in_chromium(url: str, profile) -> tuple[str, list[str]]:
    """The DOM after the page loaded and ran (``--dump-dom``), and the console's messages."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
               "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=10000", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if "CONSOLE" in line]


def status_of(dom: str) -> dict[str, str]:
    tag = re.search(r'<span id="report-status"([^>]*)>', dom).group(1)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))


# Appended to a copy of the report: clicks the 2D error's header twice (descending) and
# writes the rows' order where --dump-dom shows it.
SORT_CHECK = """<script>
const header = Array.from(document.querySelectorAll("#people th")).find(th => th.textContent === "2D error px");
header.click(); header.click();
document.body.dataset.sorted = Array.from(document.querySelectorAll("#people tbody tr")).map(r => r.dataset.key).join(",");
</script>"""


@pytest.mark.parametrize("query", ["", "?renderer=canvas"], ids=["webgl", "canvas2d"])
def test_report_runs_in_headless_chromium(run_output, tmp_path, query):
    page = run_output / f"sort_check_{tmp_path.name}.html"  # beside the report, to load its data
    page.write_text((run_output / "report.html").read_text().replace("</body>", SORT_CHECK + "</body>"))
    try:
        dom, console = load_in_chromium(page.as_uri() + query + "#two_people/001", tmp_path / "profile")
    finally:
        page.unlink()
    assert console == []
    errors = {f"{stem}/{p['index']:03d}": p["reprojection_error_px"] for stem in PEOPLE
              for p in json.loads((run_output / "results" / stem / "image.json").read_text())["people"]}
    order = re.search(r'data-sorted="([^"]*)"', dom).group(1).split(",")
    assert order == sorted(errors, key=lambda key: -errors[key])  # sorted in the browser, descending
    status = status_of(dom)
    assert status["state"] == "ready" and status["errors"] == "0"
    assert status["renderer"] == ("canvas2d" if query else "webgl2")
    assert status["viewer"] == "drawn" and int(status["pixels"]) > 5000  # the body covers the canvas
    assert "two_people \u00b7 person 001" in dom  # the fit named in the URL was chosen
    assert len(read_table(dom).rows) == sum(PEOPLE.values()) and "<svg" in dom
    assert '<tr class="ok viewable chosen" data-key="two_people/001"' in dom
