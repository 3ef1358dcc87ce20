"""Registration benchmark: Interval's rigid registration against SimpleITK's textbook set-up.

Run from the project root::

    .venv/bin/python benchmarks/bench_register.py [--repeats 3]

Renders the demo case's analytic head phantom (sample_scans/demo_phantom.py: scalp, skull,
grey/white matter, ventricles, a glioma) twice on 256x256x256 grids of 1 mm voxels, as two MRI
acquisitions: the reference with the head in its home position, the moving one with the head
rotated by 8 degrees (about an oblique axis) and shifted by 10 mm, each with its own intensity
scale, receive-coil bias and Rician noise (both rendered analytically, so neither image is an
interpolated copy of the other). Then, in the same run on the same images:

* **SimpleITK textbook**: the set-up of SimpleITK's registration tutorial (Mattes mutual
  information with 50 bins, 1 % random sampling, linear interpolation, gradient descent with
  learning rate 1 for at most 100 iterations with a convergence window of 10, scales from physical
  shift, Euler3D initialised from the geometric centres) at a single resolution at full size;
* **Interval**: ``viewer.registration.register(reference, moving)`` with its defaults.

Each is timed (best of ``--repeats``; SimpleITK's time includes casting the arrays to images, as
Interval's includes preparing its working images) and scored by the target registration error
(TRE): the distance between the true and the found mapping of points on a 4 mm grid inside the
brain. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sample_scans"))

from demo_phantom import BRAIN, TISSUES, render, scene  # noqa: E402

from viewer.core.geometry import apply_affine  # noqa: E402
from viewer.core.volume import Volume, VolumeMetadata  # noqa: E402
from viewer.registration import register  # noqa: E402
from viewer.registration.sitk_bridge import transform_from_sitk, volume_to_image  # noqa: E402

GOAL_SECONDS = 3.0
GOAL_TRE_MM = 0.5
SIZE = 256
VOXEL2PATIENT = np.array(
    [[0, 0, 1.0, -127.5], [0, 1.0, 0, -127.5], [1.0, 0, 0, -127.5], [0, 0, 0, 1]]
)
"""Axial 1 mm grid centred on the origin: (slice, row, column) -> LPS mm."""


def head_pose(angle_deg: float, shift_mm: float) -> np.ndarray:
    """Anatomy -> patient (4, 4): a rotation by ``angle_deg`` about an oblique axis and a shift."""
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    rotation = sitk.VersorTransform(tuple(axis), float(np.deg2rad(angle_deg)))
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(rotation.GetMatrix()).reshape(3, 3)
    pose[:3, 3] = shift_mm * np.array([2.0, -1.0, 2.0]) / 3.0
    return pose


def acquire(anatomy2patient: np.ndarray, *, seed: int, scale: float, bias: float) -> Volume:
    """The phantom on the 256^3 grid as an MRI: bias, Rician noise (2.5 % of white), int16."""
    voxel2anatomy = np.linalg.inv(anatomy2patient) @ VOXEL2PATIENT
    image, _, _ = render((SIZE,) * 3, voxel2anatomy, scene("1995-06-12"), TISSUES["MR"])
    z = (np.arange(SIZE) - SIZE / 2) / SIZE
    image *= 1.0 + bias * (z[:, None, None] + 0.5 * z[None, None, :])
    rng = np.random.default_rng(seed)
    noisy = np.hypot(image + rng.normal(0, 0.025, image.shape), rng.normal(0, 0.025, image.shape))
    array = np.rint(noisy * scale).astype(np.int16)
    return Volume(array, VOXEL2PATIENT, VolumeMetadata(modality="MR", description="phantom"))


def brain_points(reference_anatomy2patient: np.ndarray) -> np.ndarray:
    """Points on a 4 mm grid inside the brain, in reference patient coordinates (N, 3)."""
    axis = np.arange(-80.0, 81.0, 4.0)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    centre, radii = np.asarray(BRAIN.centre_mm), np.asarray(BRAIN.semi_axes_mm)
    inside = grid[np.sum(((grid - centre) / radii) ** 2, axis=1) < 1.0]
    return apply_affine(reference_anatomy2patient, inside)


def textbook(reference: Volume, moving: Volume) -> tuple[np.ndarray, int]:
    """SimpleITK's tutorial registration at full size; returns (moving2reference, iterations)."""
    fixed = volume_to_image(reference, dtype=np.float32)
    moving_image = volume_to_image(moving, dtype=np.float32)
    initial = sitk.CenteredTransformInitializer(
        fixed,
        moving_image,
        sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.GEOMETRY,
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.01, 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsGradientDescent(
        learningRate=1.0,
        numberOfIterations=100,
        convergenceMinimumValue=1e-6,
        convergenceWindowSize=10,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(initial, inPlace=False)
    result = method.Execute(fixed, moving_image)
    return transform_from_sitk(result, "rigid").moving2reference, method.GetOptimizerIteration()


def tre_mm(found: np.ndarray, true: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distances (N,) in mm between the found and the true images of reference points."""
    moving_points = apply_affine(np.linalg.inv(true), points)
    return np.linalg.norm(apply_affine(found, moving_points) - points, axis=1)


def timed(function, repeats: int):
    """(best wall time in s, last result) over ``repeats`` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    reference_pose = np.eye(4)
    moving_pose = head_pose(8.0, 10.0)
    reference = acquire(reference_pose, seed=1, scale=1200.0, bias=0.10)
    moving = acquire(moving_pose, seed=2, scale=800.0, bias=-0.12)
    print(f"rendered two {SIZE}^3 phantoms in {time.perf_counter() - start:.1f} s", flush=True)
    true = reference_pose @ np.linalg.inv(moving_pose)  # moving patient -> reference patient
    points = brain_points(reference_pose)

    rows = []
    t_ref, (found_ref, iterations_ref) = timed(lambda: textbook(reference, moving), args.repeats)
    tre_ref = tre_mm(found_ref, true, points)
    rows.append(("SimpleITK textbook (1 level, full size)", t_ref, tre_ref, iterations_ref))
    t_ours, result = timed(lambda: register(reference, moving), args.repeats)
    tre_ours = tre_mm(result.transform.moving2reference, true, points)
    rows.append((f"Interval ({result.method})", t_ours, tre_ours, result.iterations))

    print(f"\n{len(points)} brain points; true motion 8 deg, 10 mm; {args.repeats} repeats\n")
    print("| method | time (s) | TRE mean (mm) | TRE max (mm) | iterations |")
    print("|---|---|---|---|---|")
    for name, seconds, tre, iterations in rows:
        print(f"| {name} | {seconds:.2f} | {tre.mean():.3f} | {tre.max():.3f} | {iterations} |")
    ratio = t_ours / t_ref
    met = t_ours <= GOAL_SECONDS and tre_ours.mean() < GOAL_TRE_MM
    print(
        f"\nInterval / SimpleITK textbook time: {ratio:.2f}; goal (<= {GOAL_SECONDS:g} s, mean TRE "
        f"< {GOAL_TRE_MM:g} mm): {'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
