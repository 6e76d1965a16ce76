"""Images: download, load, resize, and the ImageNet pre/de-processing.

``image_from_url`` is the exercise's helper with its descriptor leak fixed:
the file descriptor that ``tempfile.mkstemp`` returns is always closed before
the temporary file is removed, on every path, errors included (the original
leaked one descriptor per call on Linux and could not remove the file on
Windows). It also has a timeout, a size limit, http/https only (redirects
included) and errors that say what went wrong and where.
"""
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import imageio.v3 as iio
import numpy as np

__all__ = ["ImageDownloadError", "image_from_url", "load_image", "preprocess_image",
           "deprocess_image", "resize_image", "load_images", "SQUEEZENET_MEAN", "SQUEEZENET_STD"]

SQUEEZENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
SQUEEZENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_BYTES = 20 * 2 ** 20
_CHUNK = 1 << 16


class ImageDownloadError(OSError):
    """A download failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message, url, status=None):
        super().__init__(message)
        self.url, self.status = url, status


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http/https only (urllib would also follow ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme
        if scheme not in ("http", "https"):
            raise ImageDownloadError(f"{req.full_url} redirects to a {scheme!r} URL "
                                     f"({newurl}); only http and https are followed",
                                     req.full_url, code)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def _check_http_url(url):
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"url must be http or https, got {scheme or 'no'} scheme: {url!r}")


def _download(url, timeout, max_bytes):
    """The body of ``url`` as bytes, at most ``max_bytes`` of it."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise ValueError(f"{url} is {int(length)} bytes, over the limit of {max_bytes}")
            chunks, total = [], 0
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    return b"".join(chunks)
                total += len(chunk)
                if total > max_bytes:
                    raise ValueError(f"{url} sends more than the limit of {max_bytes} bytes")
                chunks.append(chunk)
    # HTTPError is a subclass of URLError: it must be caught first
    except urllib.error.HTTPError as e:
        raise ImageDownloadError(f"HTTP {e.code} ({e.reason}) for {url}", url, e.code) from e
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise TimeoutError(f"{url} did not answer within {timeout} s") from e
        raise ImageDownloadError(f"could not reach {url}: {e.reason}", url) from e
    except (socket.timeout, TimeoutError) as e:
        raise TimeoutError(f"{url} stalled for more than {timeout} s") from e


def image_from_url(url, *, timeout=DEFAULT_TIMEOUT, max_bytes=DEFAULT_MAX_BYTES):
    """Download an image and decode it.

    Inputs:
    - url: an http or https URL
    - timeout: seconds to wait for the server, per blocking operation
    - max_bytes: largest body accepted

    Returns the image as an ndarray (H, W, 3) or (H, W) uint8.

    Raises ValueError (bad scheme, too large, not an image), TimeoutError, or
    ImageDownloadError (HTTP errors such as 404/410, which many COCO Flickr
    URLs now give, with ``status`` set; unreachable hosts).
    """
    _check_http_url(url)
    body = _download(url, timeout, max_bytes)
    suffix = Path(urllib.parse.urlsplit(url).path).suffix[:8]
    fd, fname = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:      # owns fd from here: closes it, errors included
            fd = None
            f.write(body)
        return _decode(fname, url)
    finally:
        if fd is not None:                  # fdopen itself failed
            os.close(fd)
        os.remove(fname)


def _decode(path, name):
    """Decode the image file at ``path``; ``name`` is what errors call it.

    The bytes are read here and decoded from memory: given a path, imageio's
    plugins leave descriptors open when the file is not an image.
    """
    data = Path(path).read_bytes()
    try:
        return iio.imread(data)
    except Exception as e:  # imageio raises many types for undecodable data
        raise ValueError(f"{name} is not an image that can be decoded: {e}") from e


def load_image(path_or_url, size=None):
    """Read an image from a path, a file:// URI or an http(s) URL.

    - size: None keeps the size; an int scales the shorter side to it keeping
      the aspect ratio; a (width, height) pair resizes to exactly that.

    Returns an ndarray (H, W, C) or (H, W) uint8.
    """
    source = str(path_or_url)
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme in ("http", "https"):
        img = image_from_url(source)
    else:
        if scheme == "file":
            source = urllib.request.url2pathname(urllib.parse.urlsplit(source).path)
        if not Path(source).is_file():
            raise FileNotFoundError(f"no image file at {source}")
        img = _decode(source, source)
    return img if size is None else resize_image(img, size)


def load_images(urls, size=None):
    """Load several images, tolerating failures (dead COCO URLs, no network).

    Returns a tuple of:
    - images: list with an ndarray per URL, or None where loading failed
    - failures: dict index -> short reason, for the ones that failed
    """
    images, failures = [], {}
    for i, url in enumerate(urls):
        try:
            images.append(load_image(url, size))
        except (OSError, ValueError) as e:
            images.append(None)
            failures[i] = f"{type(e).__name__}: {e}"
    return images, failures


def resize_image(img, size):
    """Resize an (H, W, ...) uint8 image; size as in :func:`load_image`."""
    from PIL import Image   # Pillow comes with imageio

    H, W = img.shape[:2]
    if np.isscalar(size):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        scale = float(size) / min(H, W)
        new_w, new_h = max(1, round(W * scale)), max(1, round(H * scale))
    else:
        new_w, new_h = (int(s) for s in size)
        if new_w <= 0 or new_h <= 0:
            raise ValueError(f"size must be a positive (width, height), got {size}")
    # PIL takes (width, height); the array comes back (height, width, ...)
    return np.asarray(Image.fromarray(img).resize((new_w, new_h), Image.BILINEAR))


def preprocess_image(img):
    """uint8 image (H, W, 3) -> float32, scaled to [0, 1] and normalised with
    the ImageNet mean and std (the exercise's SqueezeNet constants)."""
    return (np.asarray(img).astype(np.float32) / 255.0 - SQUEEZENET_MEAN) / SQUEEZENET_STD


def deprocess_image(img, rescale=False):
    """Undo :func:`preprocess_image`: float (H, W, 3) -> uint8. With rescale,
    stretch the values to the full range first (for visualising gradients)."""
    img = np.asarray(img) * SQUEEZENET_STD + SQUEEZENET_MEAN
    if rescale:
        lo, hi = img.min(), img.max()
        img = (img - lo) / max(hi - lo, 1e-12)
    return np.clip(255 * img, 0.0, 255.0).astype(np.uint8)
