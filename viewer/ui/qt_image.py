"""Numpy RGBA arrays to QImage without copying twice."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """Wrap an RGBA array as a QImage that owns a copy of the pixels.

    Parameters
    ----------
    rgba : ndarray of uint8, shape (H, W, 4)

    Returns
    -------
    QImage
        Format RGBA8888 (byte order R, G, B, A on every platform).
    """
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected an (H, W, 4) uint8 array, got {rgba.dtype} {rgba.shape}")
    data = np.ascontiguousarray(rgba)
    height, width = data.shape[:2]
    image = QImage(data.data, width, height, 4 * width, QImage.Format.Format_RGBA8888)
    return image.copy()  # detach from the numpy buffer, which may be freed


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """The pixels of a QImage as an RGBA array (a copy).

    Returns
    -------
    ndarray of uint8, shape (H, W, 4)
        Straight RGBA, whatever the image's own format.
    """
    converted = image.convertToFormat(QImage.Format.Format_RGBA8888)
    height, width = converted.height(), converted.width()
    stride = converted.bytesPerLine()
    buffer = np.frombuffer(converted.constBits(), np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : 4 * width].reshape(height, width, 4).copy()
