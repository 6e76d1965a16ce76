"""Images: download, load, resize, and the ImageNet pre/de-processing.

``image_from_url`` is the exercise's helper with its descriptor leak fixed:
the file descriptor that ``tempfile.mkstemp`` returns is always closed before
the temporary file is removed, on every path, errors included (the original
leaked one descriptor per call on Linux and could not remove the file on
Windows). Like the exercise's, it reads http, https and file URLs and, when
an image cannot be had, warns and returns None. Beyond it: a timeout that
bounds the whole download, a size limit, redirects to http/https only, and
every transport failure reported as :class:`ImageDownloadError` naming the URL.
"""
import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np

__all__ = ["ImageDownloadError", "ImageTimeoutError", "image_from_url", "load_image",
           "preprocess_image", "deprocess_image", "resize_image", "load_images",
           "SQUEEZENET_MEAN", "SQUEEZENET_STD"]

SQUEEZENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
SQUEEZENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_BYTES = 20 * 2 ** 20
_CHUNK = 1 << 16
_SCHEMES = ("http", "https", "file")


class ImageDownloadError(OSError):
    """An image could not be fetched; ``url`` names it, ``status`` is the HTTP
    status when there was one."""

    def __init__(self, message, url, status=None):
        super().__init__(message)
        self.url, self.status = url, status


class ImageTimeoutError(ImageDownloadError, TimeoutError):
    """The download took longer than its ``timeout`` (also a TimeoutError)."""


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


def _check_url(url):
    """The URL's scheme, after checking it is a str naming http, https or file."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"url must be http, https or file, got {parts.scheme or 'no'} "
                         f"scheme: {url!r}")
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raise ValueError(f"file URLs must name a local file, got host {parts.netloc!r}: {url}")
    return parts.scheme


def _read_local(url, max_bytes):
    """The bytes of a file:// URL (local files only), at most ``max_bytes``."""
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{url} is {size} bytes, over the limit of {max_bytes}")
        return path.read_bytes()
    except OSError as e:
        raise ImageDownloadError(f"cannot read {url}: {e.strerror or e}", url) from e


def _download(url, timeout, max_bytes):
    """The body of ``url`` as bytes, at most ``max_bytes`` of it, within
    ``timeout`` seconds in all (connection, headers and body)."""
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise ValueError(f"{url} is {int(length)} bytes, over the limit of {max_bytes}")
            body = _read_body(resp, url, deadline, timeout, max_bytes)
            if length is not None and length.isdigit() and len(body) < int(length):
                # read1 returns what came before the hang-up; read() would raise
                raise http.client.IncompleteRead(body, int(length) - len(body))
            return body
    # HTTPError is a subclass of URLError: it must be caught first
    except urllib.error.HTTPError as e:
        raise ImageDownloadError(f"HTTP {e.code} ({e.reason}) for {url}", url, e.code) from e
    except ImageDownloadError:
        raise
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise ImageTimeoutError(f"{url} did not answer within {timeout} s", url) from e
        raise ImageDownloadError(f"could not reach {url}: {e.reason}", url) from e
    except (socket.timeout, TimeoutError) as e:
        raise ImageTimeoutError(f"{url} stalled for more than {timeout} s", url) from e
    # malformed responses (bad status line, too many or too long headers, a
    # body cut short) and dropped connections: the server's fault, not ours
    except (http.client.HTTPException, OSError) as e:
        raise ImageDownloadError(f"bad response from {url}: {type(e).__name__}: {e}",
                                 url) from e


def _read_body(resp, url, deadline, timeout, max_bytes):
    """Read the body chunk by chunk; read1 returns after one receive, so a
    server that drips bytes cannot stretch the download past the deadline."""
    sock = getattr(getattr(resp.fp, "raw", None), "_sock", None)
    chunks, total = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ImageTimeoutError(f"{url} took more than {timeout} s to download", url)
        if sock is not None:        # each receive waits at most until the deadline
            sock.settimeout(left)
        chunk = resp.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ValueError(f"{url} sends more than the limit of {max_bytes} bytes")
        chunks.append(chunk)


def image_from_url(url, *, timeout=DEFAULT_TIMEOUT, max_bytes=DEFAULT_MAX_BYTES,
                   errors="warn"):
    """Fetch an image and decode it, as the exercise's helper does.

    Inputs:
    - url: an http, https or file URL (the built-in dataset's are file URLs)
    - timeout: seconds the whole download may take
    - max_bytes: largest body accepted
    - errors: 'warn' (the exercise's contract): when the image cannot be had
      (a dead or unreachable URL, a timeout, too large, not an image), emit a
      warning naming the URL and the reason and return None; 'raise': raise
      the error instead

    Returns the image as an ndarray (H, W, 3) or (H, W) uint8, or None.

    Raises, whatever ``errors`` says, TypeError or ValueError for a url that is
    not a str or not http/https/file. With errors='raise': ImageDownloadError
    (HTTP errors such as 404/410, which many COCO Flickr URLs now give, with
    ``status`` set; unreachable hosts; malformed responses; missing files),
    ImageTimeoutError (a subclass of it and of TimeoutError), ValueError (too
    large, not an image).
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f"errors must be 'warn' or 'raise', got {errors!r}")
    scheme = _check_url(url)
    try:
        if scheme == "file":
            return _decode_bytes(_read_local(url, max_bytes), url)
        return _decode_via_tempfile(_download(url, timeout, max_bytes), url)
    except (ImageDownloadError, ValueError) as e:
        if errors == "raise":
            raise
        # stacklevel 2: the warning points at the caller's line (a notebook cell)
        warnings.warn(f"no image from {url}: {e}", stacklevel=2)
        return None


def _decode_via_tempfile(body, url):
    """Decode downloaded bytes through a temporary file, as the exercise does;
    the file keeps the URL's suffix, which imageio uses to pick a plugin."""
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
    return _decode_bytes(Path(path).read_bytes(), name)


def _decode_bytes(data, name):
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
        img = image_from_url(source, errors="raise")
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
