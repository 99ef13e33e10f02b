"""The collision term: fits of bodies with the hands on or near the body, with and without
the term, and what the term costs.

    python benchmarks/self_collision.py --cases 16

Cases: the open model in the ``fitting.synthetic.CONTACT_POSES`` arm poses (hands on hips,
arms crossed, hands on the belly, a hand on the chest; each angle jittered by up to 0.05
rad), the torso upright, the legs, shape and view as in ``benchmarks/synthetic.py`` but yaw -60..60
degrees; where the true mesh intersects itself, its arms are first moved out of the body by
the collision penalty alone (redrawn if that fails), so every true mesh is free of
intersections. Both runs fit the same cases in
one batch with the default schedule; the "with" run sets the collision weights of the stages
(SMPLify-X: 0, 0, 0, 0.01, 1.0). Printed per run: intersecting pairs of the fitted meshes
(median, share of meshes with any), PA-MPJPE, MPJPE, vertex error after Procrustes (mm), 2D
error (px), seconds per person. Then the term's cost per evaluation at batch 1 and 16: the
pair search, the penalty with its gradient, and the mesh forward+backward the term needs
(``BodyModel.mesh_and_keypoints``; the keypoint-only forward costs far less).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bodyfit.resources import config_path  # noqa: E402
from bodyfit.fileio import keypoint_layout  # noqa: E402
from bodyfit.bodymodels.layer import BodyModel  # noqa: E402
from bodyfit.collision.penalty import penetration_penalty  # noqa: E402
from bodyfit.collision.search import find_collisions  # noqa: E402
from bodyfit.collision.term import SelfCollision  # noqa: E402
from bodyfit.fitting.config import load_config  # noqa: E402
from bodyfit.fitting.fitter import Fitter  # noqa: E402
from bodyfit.fitting.metrics import reprojection_error  # noqa: E402
from bodyfit.bodymodels.joints import SMPLX_JOINT  # noqa: E402
from bodyfit.fitting.synthetic import CONTACT_POSES, case_targets, make_case, observe  # noqa: E402
from bodyfit.geometry import mpjpe, pa_mpjpe, project, project_numpy  # noqa: E402
from bodyfit.priors.factory import make_body_pose_prior  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMPLIFYX_WEIGHTS = (0.0, 0.0, 0.0, 0.01, 1.0)


ARM_JOINTS = ("left_collar", "right_collar", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
              "left_wrist", "right_wrist")


def separate(model: BodyModel, term: SelfCollision, params, steps: int = 60) -> bool:
    """Moves the arm joints of ``params`` (in place) out of the body with the collision
    penalty alone, until no pair intersects; whether that was reached."""
    mask = torch.zeros(21, 3)
    for joint in ARM_JOINTS:
        mask[SMPLX_JOINT[joint] - 1] = 1.0
    mask = mask.view(1, 63)
    pose = params.body_pose.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([pose], lr=0.01)
    for _ in range(steps):
        vertices = model(dataclasses.replace(params, body_pose=pose * mask + params.body_pose * (1 - mask))).vertices
        pairs = find_collisions(vertices.detach(), term.rules, term.config.cell_size)
        if len(pairs) == 0:
            params.body_pose = (pose * mask + params.body_pose * (1 - mask)).detach()
            return True
        optimizer.zero_grad()
        penetration_penalty(vertices, term.rules.faces, pairs).sum().backward()
        optimizer.step()
    return False


def contact_cases(model: BodyModel, term: SelfCollision, count: int, seed: int):
    """Cases in the contact poses; a true mesh that intersects itself has its arms moved out
    first (``separate``), and is redrawn if that fails."""
    rng = np.random.default_rng(seed)
    names = list(CONTACT_POSES)
    cases, separated, redrawn = [], 0, 0
    while len(cases) < count:
        case = make_case(model, rng, yaw_range=(-60.0, 60.0), contact=names[len(cases) % len(names)])
        with torch.no_grad():
            vertices = model(case.params).vertices
        if len(find_collisions(vertices, term.rules, term.config.cell_size)) > 0:
            if not separate(model, term, case.params):
                redrawn += 1
                continue
            separated += 1
            case = reobserve(model, case, rng)
        cases.append(case)
    return cases, separated, redrawn


def reobserve(model: BodyModel, case, rng):
    """``case`` with its keypoints recomputed from its (changed) parameters."""
    with torch.no_grad():
        _, keypoints = model.keypoints(case.params)
    points = keypoints[0].numpy().astype(np.float64)
    observed = observe(project_numpy(points, case.intrinsics), model.keypoint_valid.numpy(), rng, case.image_size, 2.0, 0.1)
    return dataclasses.replace(case, keypoints_3d=points, observed=observed)


def fit_all(model, prior, config, cases, collision_term) -> dict[str, list[float]]:
    fitter = Fitter(model, prior, config)
    targets = case_targets(cases, config)
    start = time.perf_counter()
    result = fitter.fit(targets)
    seconds = (time.perf_counter() - start) / len(cases)
    searches = fitter.collision.searched_meshes / len(cases) if fitter.collision is not None else 0.0
    with torch.no_grad():
        output = model(result.params)
        truth = model(type(result.params)(**{k: torch.cat([c.params.as_dict()[k] for c in cases])
                                            for k in result.params.as_dict()}))
        pairs = find_collisions(output.vertices, collision_term.rules, collision_term.config.cell_size)
    counts = pairs.counts(len(cases)).tolist()
    body = keypoint_layout.BODY
    fitted, true = output.keypoints[:, body].double(), torch.tensor(np.stack([case.keypoints_3d[body] for case in cases]))
    rows = {"pairs": counts, "pa_mpjpe_mm": (1000 * pa_mpjpe(fitted, true)).tolist(),
            "mpjpe_mm": (1000 * mpjpe(fitted, true, keypoint_layout.OPENPOSE["MidHip"])).tolist(),
            "pa_vertex_mm": (1000 * pa_mpjpe(output.vertices.double(), truth.vertices.double())).tolist(),
            "error_2d_px": [], "seconds": [seconds], "searches": [searches]}
    projected = project(output.keypoints, targets.intrinsics).numpy()
    for i, case in enumerate(cases):
        rows["error_2d_px"].append(reprojection_error(projected[i][body], case.observed[body, :2],
                                                      case.observed[body, 2], config.confidence_threshold))
    return rows


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def term_cost(model, term: SelfCollision, cases, batch: int, repeats: int) -> dict[str, float]:
    """Milliseconds per evaluation: pair search, penalty forward+backward, full model
    forward+backward (what the term needs beyond the keypoint-only forward)."""
    picks = [cases[i % len(cases)] for i in range(batch)]
    params = type(cases[0].params)(**{k: torch.cat([c.params.as_dict()[k] for c in picks]).clone()
                                      for k in cases[0].params.as_dict()})
    # push every left arm 0.3 rad further into the body so that there are pairs to penalise
    params.body_pose[:, 3 * 15 + 2] -= 0.3
    with torch.no_grad():
        vertices = model(params).vertices
    pairs = find_collisions(vertices, term.rules, term.config.cell_size)

    def penalty() -> None:
        v = vertices.clone().requires_grad_(True)
        penetration_penalty(v, term.rules.faces, pairs).sum().backward()

    def full() -> None:
        pose = params.body_pose.clone().requires_grad_(True)
        model.mesh_and_keypoints(dataclasses.replace(params, body_pose=pose))[0].sum().backward()

    return {"pairs": len(pairs) / batch,
            "search_ms": timed(lambda: find_collisions(vertices, term.rules, term.config.cell_size), repeats),
            "penalty_ms": timed(penalty, repeats), "mesh_forward_backward_ms": timed(full, repeats)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--config", type=Path, default=config_path("fit_smplx"))
    parser.add_argument("--weights", type=float, nargs=5, action="append", default=None,
                        help="collision weight per stage of a 'with' run (repeat for several runs; "
                             "default: the config's, or SMPLify-X's if the config has none)")
    parser.add_argument("--reuse-below", type=float, default=None,
                        help="override the config's collision.reuse_below (metres)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    base = load_config(args.config, {"init": "rest"})  # SMPLify-X's schedule, which this measures
    if args.reuse_below is not None:
        base = dataclasses.replace(base, collision=dataclasses.replace(base.collision, reuse_below=args.reuse_below))
    model = BodyModel("smplx").to(args.device)
    prior = make_body_pose_prior(base.body_pose_prior, base.vposer).to(args.device)
    term = SelfCollision(model, base.collision)
    cases, separated, redrawn = contact_cases(model, term, args.cases, args.seed)
    print(f"{len(cases)} cases; {separated} had their arms moved out of the body first, {redrawn} redrawn")
    configured = tuple(s.collision for s in base.stages)
    weight_sets = args.weights or [list(configured) if any(configured) else list(SMPLIFYX_WEIGHTS)]
    runs = [("without collision term", tuple(0.0 for _ in base.stages))]
    runs += [(f"with, weights {weights}", tuple(weights)) for weights in weight_sets]
    print("| run | pairs (median) | meshes with pairs | PA-MPJPE mm | MPJPE mm | PA vertex mm | 2D px | s/person | searches/person |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, weights in tqdm(runs, desc="fitting", unit="run", leave=False):
        config = dataclasses.replace(base, stages=tuple(dataclasses.replace(s, collision=w)
                                                        for s, w in zip(base.stages, weights)),
                                     collision=dataclasses.replace(base.collision, enabled=any(weights)))
        rows = fit_all(model, prior, config, cases, term)
        share = np.mean(np.asarray(rows["pairs"]) > 0)
        print(f"| {label} | {statistics.median(rows['pairs']):.0f} | {100 * share:.0f} % "
              f"| {statistics.median(rows['pa_mpjpe_mm']):.1f} | {statistics.median(rows['mpjpe_mm']):.1f} "
              f"| {statistics.median(rows['pa_vertex_mm']):.1f} | {statistics.median(rows['error_2d_px']):.2f} "
              f"| {rows['seconds'][0]:.2f} | {rows['searches'][0]:.0f} |")
    print()
    print("| batch | pairs per mesh | search ms | penalty fwd+bwd ms | mesh forward+backward ms |")
    print("|---|---|---|---|---|")
    for batch in (1, 16):
        cost = term_cost(model, term, cases, batch, args.repeats)
        print(f"| {batch} | {cost['pairs']:.0f} | {cost['search_ms']:.1f} | {cost['penalty_ms']:.1f} "
              f"| {cost['mesh_forward_backward_ms']:.1f} |")


if __name__ == "__main__":
    main()
