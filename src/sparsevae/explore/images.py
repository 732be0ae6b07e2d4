"""Images between tensors and bytes: PNGs for the page, and uploads decoded in memory.

An upload is read with Pillow from the request's bytes (never written to disk), accepted only in
the common still-image formats and up to ``MAX_UPLOAD_PIXELS``, converted to the model's channels
and resized to its input size the way ``folder:PATH`` data are.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MAX_UPLOAD_PIXELS = 4096 * 4096  # far below Pillow's decompression-bomb limit


def to_png(image: torch.Tensor) -> bytes:
    """A PNG of one image ``(C, H, W)`` with values in [0, 1] (clipped), grey or RGB."""
    array = image.detach().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    if array.shape[0] not in (1, 3):
        raise DataError(f"can draw 1 or 3 channels, got an image of shape {tuple(image.shape)}")
    pixels = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_url(image: torch.Tensor) -> str:
    """``data:image/png;base64,…`` of one image, for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(to_png(image)).decode("ascii")


def image_from_upload(data: bytes, shape: tuple[int, ...], *, invert: bool = False) -> torch.Tensor:
    """The uploaded file's image as a tensor of ``shape`` ``(C, H, W)`` in [0, 1].

    Transparent pixels become white (a drawing on a transparent sheet); ``invert`` maps v to
    1 − v, for dark strokes on a light background when the model saw light on dark (MNIST).
    """
    if not data:
        raise DataError("the upload is empty: choose an image file")
    channels, height, width = shape
    if channels not in (1, 3):
        raise DataError(f"uploads need a grey or RGB model, this one takes {channels} channels")
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_upload(image)
            flat = _on_white(image).convert("L" if channels == 1 else "RGB")
            flat = flat.resize((width, height), Image.BILINEAR)
            array = np.asarray(flat, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"not an image that can be read ({type(exc).__name__}); upload a PNG, JPEG, GIF, "
            "BMP or WebP file"
        ) from None
    tensor = torch.from_numpy(array.reshape(height, width, channels).transpose(2, 0, 1).copy())
    return 1.0 - tensor if invert else tensor


def _check_upload(image: Image.Image) -> None:
    """Refuse formats other than still images and pictures too large to decode safely."""
    if image.format not in UPLOAD_FORMATS:
        raise DataError(
            f"uploads must be {', '.join(UPLOAD_FORMATS)} images, got {image.format or 'unknown'}"
        )
    if image.width * image.height > MAX_UPLOAD_PIXELS:
        raise DataError(
            f"the image is {image.width}×{image.height} pixels; the limit is "
            f"{MAX_UPLOAD_PIXELS:,} pixels"
        )


def _on_white(image: Image.Image) -> Image.Image:
    """The image with any transparency composited onto white."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return image
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba)
