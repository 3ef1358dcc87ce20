"""Volumes and transforms to and from SimpleITK, with exactly the same patient geometry.

SimpleITK works in LPS millimetres like DICOM, but orders axes ``(x, y, z) = (column, row, slice)``
and splits the affine into origin, spacing and a direction matrix whose columns are the unit
vectors of the index axes. A Volume's ``voxel2patient`` columns are ``(slice, row, column)``, so
the direction columns are those columns reversed and normalised.

ITK transforms map points of the FIXED (reference) image to the MOVING image: the
``reference2moving`` direction, which is what resampling the moving image onto the fixed grid
needs. Interval's :class:`~viewer.core.transform.Transform` stores the inverse,
``moving2reference``; the functions here convert between the two.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from viewer.core.transform import Transform
from viewer.core.volume import Volume


def image_from_array(
    array: np.ndarray, voxel2patient: np.ndarray, *, dtype: np.dtype | type | None = None
) -> sitk.Image:
    """Wrap a (slice, row, column) array and its affine as a SimpleITK image.

    Parameters
    ----------
    array : ndarray of shape (Z, Y, X)
        Indexed (slice, row, column).
    voxel2patient : ndarray of shape (4, 4)
        Maps (slice, row, column, 1) to LPS mm.
    dtype : numpy dtype, optional
        Cast the voxels to this type first (e.g. ``np.float32`` for registration).

    Returns
    -------
    SimpleITK.Image
        Size (X, Y, Z); ``TransformContinuousIndexToPhysicalPoint((c, r, s))`` equals
        ``apply_affine(voxel2patient, (s, r, c))``.
    """
    data = np.ascontiguousarray(array if dtype is None else array.astype(dtype, copy=False))
    image = sitk.GetImageFromArray(data, isVector=False)
    columns = np.asarray(voxel2patient, dtype=np.float64)[:3, :3][:, ::-1]
    spacing = np.linalg.norm(columns, axis=0)
    image.SetSpacing([float(v) for v in spacing])
    image.SetDirection([float(v) for v in (columns / spacing).ravel()])
    image.SetOrigin([float(v) for v in np.asarray(voxel2patient, dtype=np.float64)[:3, 3]])
    return image


def volume_to_image(volume: Volume, *, dtype: np.dtype | type | None = None) -> sitk.Image:
    """SimpleITK image of a volume (see :func:`image_from_array`)."""
    return image_from_array(volume.array, volume.voxel2patient, dtype=dtype)


def image_voxel2patient(image: sitk.Image) -> np.ndarray:
    """The ``voxel2patient`` affine (4, 4) of a 3-D SimpleITK image, in (slice, row, column) order.

    Examples
    --------
    >>> img = sitk.Image(4, 3, 2, sitk.sitkUInt8)
    >>> img.SetSpacing((0.5, 0.75, 3.0))
    >>> image_voxel2patient(img)[:3, :3]
    array([[0.  , 0.  , 0.5 ],
           [0.  , 0.75, 0.  ],
           [3.  , 0.  , 0.  ]])
    """
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = (direction * np.asarray(image.GetSpacing()))[:, ::-1]
    affine[:3, 3] = image.GetOrigin()
    return affine


def image_to_volume(image: sitk.Image, template: Volume, **metadata_changes: object) -> Volume:
    """A Volume of a SimpleITK image, with ``template``'s metadata (and the given changes)."""
    metadata = replace(template.metadata, **metadata_changes)
    return Volume(sitk.GetArrayFromImage(image), image_voxel2patient(image), metadata)


def reference2moving_to_sitk(transform: Transform) -> sitk.Transform:
    """The ITK transform (fixed -> moving points) of a Transform, for resampling and files.

    Rigid transforms become an ``Euler3DTransform``, anything else (or a "rigid" matrix that is
    not a rotation to 1e-6) an ``AffineTransform``; both are read by SimpleITK and 3D Slicer. The
    centre of rotation is the origin, so the ITK translation is the plain offset of
    ``reference2moving``.
    """
    matrix = transform.reference2moving
    linear = matrix[:3, :3]
    is_rotation = np.allclose(linear @ linear.T, np.eye(3), atol=1e-6) and np.linalg.det(linear) > 0
    if transform.kind in ("rigid", "identity") and is_rotation:
        itk: sitk.Transform = sitk.Euler3DTransform()
        itk.SetMatrix([float(v) for v in linear.ravel()], 1e-5)
    else:
        itk = sitk.AffineTransform(3)
        itk.SetMatrix([float(v) for v in matrix[:3, :3].ravel()])
    itk.SetTranslation([float(v) for v in matrix[:3, 3]])
    return itk


def sitk_to_reference2moving(itk: sitk.Transform) -> np.ndarray:
    """The 4x4 matrix (fixed LPS mm -> moving LPS mm) of a linear ITK transform.

    Handles any transform with a matrix, centre and translation (Euler, versor, similarity,
    affine), and composite transforms of such. ITK maps ``x -> M (x - c) + c + t``.

    Raises
    ------
    ValueError
        The transform is not linear (e.g. a B-spline or displacement field).
    """
    if itk.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(itk)
        result = np.eye(4)
        # ITK applies the last-added transform first.
        for index in range(composite.GetNumberOfTransforms()):
            result = result @ sitk_to_reference2moving(composite.GetNthTransform(index))
        return result
    itk = itk.Downcast()
    if not all(hasattr(itk, name) for name in ("GetMatrix", "GetCenter", "GetTranslation")):
        raise ValueError(f"{itk.GetName()} is not a linear transform")
    matrix = np.asarray(itk.GetMatrix(), dtype=np.float64).reshape(3, 3)
    center = np.asarray(itk.GetCenter(), dtype=np.float64)
    translation = np.asarray(itk.GetTranslation(), dtype=np.float64)
    affine = np.eye(4)
    affine[:3, :3] = matrix
    affine[:3, 3] = center + translation - matrix @ center
    return affine


def transform_from_sitk(itk: sitk.Transform, kind: str) -> Transform:
    """Interval Transform (moving -> reference) from an ITK transform (fixed -> moving)."""
    return Transform(np.linalg.inv(sitk_to_reference2moving(itk)), kind)


def resample_onto(
    moving: Volume,
    grid: Volume,
    transform: Transform,
    *,
    interpolation: str = "linear",
    default_value: float | None = None,
) -> Volume:
    """Resample ``moving`` onto ``grid``'s voxels through ``transform`` (moving -> grid space).

    Parameters
    ----------
    moving : Volume
    grid : Volume
        Only its shape and ``voxel2patient`` are used: the output lives on this grid.
    transform : Transform
        Maps moving LPS mm to the grid's LPS mm.
    interpolation : {"linear", "nearest"}
        Trilinear for images, nearest neighbour for label maps.
    default_value : float, optional
        Value outside the moving image; by default its minimum (air for CT, 0 for MR).

    Returns
    -------
    Volume
        Shape of ``grid``, ``moving``'s metadata; integer images stay in their dtype (rounded).
    """
    if interpolation not in ("linear", "nearest"):
        raise ValueError(f"interpolation must be 'linear' or 'nearest', not {interpolation!r}")
    source = volume_to_image(moving, dtype=np.float32 if interpolation == "linear" else None)
    target = image_from_array(np.zeros(grid.shape, np.uint8), grid.voxel2patient)
    fill = float(np.min(moving.array)) if default_value is None else float(default_value)
    resampled = sitk.Resample(
        source,
        target,
        reference2moving_to_sitk(transform),
        sitk.sitkLinear if interpolation == "linear" else sitk.sitkNearestNeighbor,
        fill,
    )
    array = sitk.GetArrayFromImage(resampled)
    if np.issubdtype(moving.array.dtype, np.integer) and array.dtype != moving.array.dtype:
        info = np.iinfo(moving.array.dtype)
        array = np.clip(np.rint(array), info.min, info.max).astype(moving.array.dtype)
    return Volume(array, grid.voxel2patient, moving.metadata)
