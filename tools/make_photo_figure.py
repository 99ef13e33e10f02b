"""The README's photo figures: per image, the photograph, the detected keypoints and the fit
(one row per fit folder given, the keypoints read from the first).

    python fit.py --images examples/photos --output output/photos
    python -m tools.make_photo_figure --fit output/photos --output docs/photo_fits.jpg
    python -m tools.make_photo_figure --fit output/photos_a output/photos_b --labels "regressor alone" "default"
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from bodyfit.fileio.atomic import atomic_path
from bodyfit.fileio.images import read_image
from bodyfit.fileio.openpose_json import list_images, read_openpose
from bodyfit.rendering.draw import draw_label, draw_openpose


def fit_height(image: np.ndarray, height: int) -> np.ndarray:
    width = int(round(image.shape[1] * height / image.shape[0]))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=Path("examples/photos"))
    parser.add_argument("--fit", type=Path, nargs="+", required=True,
                        help="fit.py output folders (the first run without --keypoints: its detections are drawn)")
    parser.add_argument("--labels", nargs="+", default=None, help="a label per fit folder, drawn on its row")
    parser.add_argument("--output", type=Path, default=Path("docs/photo_fits.jpg"))
    parser.add_argument("--height", type=int, default=300)
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.fit):
        raise SystemExit("--labels needs one label per --fit folder")
    columns = []
    for column, path in enumerate(list_images(args.images)):
        photo = read_image(path)
        drawn = photo
        for person in read_openpose(args.fit[0] / "keypoints" / f"{path.stem}_keypoints.json", allow_empty=True):
            drawn = draw_openpose(drawn, person.body, person.left_hand, person.right_hand, person.face, width=2)
        tiles = [fit_height(tile, args.height) for tile in (photo, drawn)]
        for row, folder in enumerate(args.fit):
            overlay = fit_height(read_image(folder / "images" / f"{path.stem}.png"), args.height)
            if args.labels and column == 0:
                overlay = draw_label(overlay, args.labels[row])
            tiles.append(overlay)
        columns.append(np.concatenate(tiles, axis=0))
    with atomic_path(args.output) as tmp, open(tmp, "wb") as handle:
        Image.fromarray(np.concatenate(columns, axis=1)).save(handle, format="JPEG", quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
