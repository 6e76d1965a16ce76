"""image_utils against a real HTTP server on 127.0.0.1 started by the test."""
import http.server
import io
import multiprocessing
import os
import tempfile
import time

import imageio.v3 as iio
import numpy as np
import pytest

import image_utils as iu

PIXELS = (np.arange(12 * 20 * 3) % 251).astype(np.uint8).reshape(12, 20, 3)


def _png(img):
    buf = io.BytesIO()
    iio.imwrite(buf, img, extension=".png")
    return buf.getvalue()


class Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):
        action = self.routes.get(self.path)
        if action is None:
            self.send_error(404, "Not Found")
            return
        action(self)

    def log_message(self, *args):     # keep the test output clean
        pass


def _send(body, content_type="image/png", length=True):
    def action(h):
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        if length:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return action


def _redirect(location):
    def action(h):
        h.send_response(302)
        h.send_header("Location", location)
        h.end_headers()
    return action


def _stall(h):
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    h.wfile.flush()
    time.sleep(3)


def _raw(data, then_sleep=0.0):
    """Send bytes as they are, malformed HTTP included, and hang up."""
    def action(h):
        h.wfile.write(data)
        h.wfile.flush()
        time.sleep(then_sleep)
    return action


def _drip(h):
    h.send_response(200)
    h.send_header("Content-Length", "100")
    h.end_headers()
    try:
        for _ in range(100):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _huge_unannounced(h):
    h.send_response(200)
    h.end_headers()
    try:
        for _ in range(64):
            h.wfile.write(b"\0" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass


Handler.routes = {
    "/img.png": _send(_png(PIXELS)),
    "/gone": lambda h: h.send_error(410, "Gone"),
    "/text": _send(b"this is not an image at all", "text/plain"),
    "/huge": _send(b"\0" * (3 * 2 ** 20), "application/octet-stream"),
    "/huge-stream": _huge_unannounced,
    "/stall": _stall,
    "/to-ftp": _redirect("ftp://example.invalid/x.png"),
    "/to-file": _redirect("file:///etc/passwd"),
    "/drip": _drip,
    "/bad-status": _raw(b"garbage\r\n\r\n"),
    "/long-line": _raw(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n"),
    "/short-body": _raw(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10),
    "/hang-up": _raw(b""),
    "/many-headers": _raw(b"HTTP/1.0 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"),
}


def _serve(port_queue):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None   # clients that hang up on purpose
    port_queue.put(srv.server_address[1])
    srv.serve_forever()


@pytest.fixture(scope="module")
def server():
    """The server runs in its own process, so that the descriptors counted in
    this process are the client's alone."""
    ctx = multiprocessing.get_context("fork")
    ports = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(ports,), daemon=True)
    proc.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=10)}"
    finally:
        proc.terminate()
        proc.join(5)
        ports.close()
        ports.join_thread()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """mkstemp writes here, so leaked temporary files can be counted."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_pixels_round_trip(server, private_tmp):
    np.testing.assert_array_equal(iu.image_from_url(server + "/img.png"), PIXELS)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_no_descriptor_or_file_leaks_over_300_calls(server, private_tmp):
    iu.image_from_url(server + "/img.png")          # warm up lazily opened resources
    before = open_fds()
    for i in range(300):
        if i % 3 == 2:                              # error paths must not leak either
            with pytest.raises(ValueError):
                iu.image_from_url(server + "/text", errors="raise")
        else:
            iu.image_from_url(server + "/img.png")
    assert open_fds() == before
    assert os.listdir(private_tmp) == []


@pytest.mark.parametrize("path,status", [("/missing", 404), ("/gone", 410)])
def test_http_errors_name_status_and_url(server, private_tmp, path, status):
    with pytest.raises(iu.ImageDownloadError, match=f"HTTP {status}.*{path}") as info:
        iu.image_from_url(server + path, errors="raise")
    assert info.value.status == status
    assert os.listdir(private_tmp) == []


def test_not_an_image(server, private_tmp):
    with pytest.raises(ValueError, match="not an image"):
        iu.image_from_url(server + "/text", errors="raise")
    assert os.listdir(private_tmp) == []


@pytest.mark.parametrize("path", ["/huge", "/huge-stream"])
def test_size_limit(server, private_tmp, path):
    with pytest.raises(ValueError, match="limit of 1048576"):
        iu.image_from_url(server + path, max_bytes=2 ** 20, errors="raise")


def test_stalling_server_times_out(server, private_tmp):
    start = time.perf_counter()
    with pytest.raises(iu.ImageTimeoutError, match="stall"):
        iu.image_from_url(server + "/stall", timeout=0.5, errors="raise")
    assert time.perf_counter() - start < 2.5


@pytest.mark.parametrize("path,scheme", [("/to-ftp", "ftp"), ("/to-file", "file")])
def test_redirect_to_other_scheme_refused(server, private_tmp, path, scheme):
    # refused by our handler (ftp) or by urllib before it (file), never followed
    with pytest.raises(iu.ImageDownloadError, match=f"{scheme}://") as info:
        iu.image_from_url(server + path, errors="raise")
    assert info.value.status == 302


def test_unreachable_host_and_bad_scheme(private_tmp):
    with pytest.raises(iu.ImageDownloadError, match="could not reach"):
        iu.image_from_url("http://127.0.0.1:9/x.png", timeout=2, errors="raise")
    with pytest.raises(ValueError, match="http, https or file"):
        iu.image_from_url("ftp://example.invalid/x.png")
    with pytest.raises(TypeError, match="str"):
        iu.image_from_url(b"http://x")


def test_load_image_paths_uris_and_sizes(tmp_path, server):
    path = tmp_path / "pic.png"
    iio.imwrite(path, PIXELS)
    np.testing.assert_array_equal(iu.load_image(path), PIXELS)
    np.testing.assert_array_equal(iu.load_image(path.as_uri()), PIXELS)
    np.testing.assert_array_equal(iu.load_image(server + "/img.png"), PIXELS)
    assert iu.load_image(path, size=(10, 4)).shape == (4, 10, 3)   # (width, height)
    assert iu.load_image(path, size=6).shape == (6, 10, 3)         # shorter side 12 -> 6
    with pytest.raises(FileNotFoundError):
        iu.load_image(tmp_path / "none.png")


def test_preprocess_deprocess_round_trip():
    x = iu.preprocess_image(PIXELS)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=(0, 1)), (PIXELS / 255.0).mean(axis=(0, 1)) /
                               iu.SQUEEZENET_STD - iu.SQUEEZENET_MEAN / iu.SQUEEZENET_STD,
                               rtol=1e-5)
    back = iu.deprocess_image(x)
    assert np.abs(back.astype(int) - PIXELS).max() <= 1
    stretched = iu.deprocess_image(x, rescale=True)
    assert stretched.min() == 0 and stretched.max() == 255


# -- the exercise's contract: file URLs, and None with a warning -----------------

def test_file_urls_read_without_a_temporary_copy(tmp_path, private_tmp):
    path = tmp_path / "pic.png"
    iio.imwrite(path, PIXELS)
    np.testing.assert_array_equal(iu.image_from_url(path.as_uri()), PIXELS)
    assert os.listdir(private_tmp) == []
    with pytest.raises(ValueError, match="limit of 10"):
        iu.image_from_url(path.as_uri(), max_bytes=10, errors="raise")
    with pytest.raises(ValueError, match="local file.*example.org"):
        iu.image_from_url("file://example.org/x.png")


def test_missing_file_url_warns_and_gives_none(tmp_path):
    url = (tmp_path / "none.png").as_uri()
    with pytest.warns(UserWarning, match=f"no image from {url}.*No such file"):
        assert iu.image_from_url(url) is None
    with pytest.raises(iu.ImageDownloadError, match="none.png") as info:
        iu.image_from_url(url, errors="raise")
    assert info.value.url == url


@pytest.mark.parametrize("path,reason", [("/gone", "HTTP 410"), ("/text", "not an image"),
                                         ("/bad-status", "BadStatusLine")])
def test_dead_url_warns_with_url_and_reason_and_gives_none(server, private_tmp, path, reason):
    with pytest.warns(UserWarning, match=f"no image from {server + path}: .*{reason}"):
        assert iu.image_from_url(server + path) is None
    assert os.listdir(private_tmp) == []


def test_errors_argument_checked():
    with pytest.raises(ValueError, match="errors must be"):
        iu.image_from_url("http://127.0.0.1:9/x.png", errors="ignore")


# -- hostile servers: every transport failure is an ImageDownloadError -----------

@pytest.mark.parametrize("path,kind", [
    ("/bad-status", "BadStatusLine"), ("/long-line", "LineTooLong"),
    ("/short-body", "IncompleteRead"), ("/hang-up", "RemoteDisconnected"),
    ("/many-headers", "more than 100 headers")])
def test_malformed_responses_are_download_errors(server, private_tmp, path, kind):
    with pytest.raises(iu.ImageDownloadError, match=f"{server + path}.*{kind}") as info:
        iu.image_from_url(server + path, timeout=5, errors="raise")
    assert info.value.url == server + path
    assert os.listdir(private_tmp) == []


def test_load_images_tolerates_malformed_responses(server, private_tmp):
    urls = [server + p for p in ("/img.png", "/bad-status", "/short-body", "/hang-up")]
    images, failures = iu.load_images(urls)
    np.testing.assert_array_equal(images[0], PIXELS)
    assert images[1:] == [None, None, None] and sorted(failures) == [1, 2, 3]
    assert all("ImageDownloadError" in reason for reason in failures.values())


def test_timeout_bounds_the_whole_download(server, private_tmp):
    # the server drips one byte every 0.1 s for 10 s: each receive is quick,
    # only a deadline on the whole download stops it
    start = time.perf_counter()
    with pytest.raises(iu.ImageTimeoutError, match="more than 1.0 s") as info:
        iu.image_from_url(server + "/drip", timeout=1.0, errors="raise")
    assert time.perf_counter() - start < 2.0
    assert isinstance(info.value, TimeoutError)
    assert os.listdir(private_tmp) == []
