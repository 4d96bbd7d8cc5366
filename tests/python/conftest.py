"""Fixtures for the end-to-end tests of `exaone serve`.

The binary comes from $EXAONE_BINARY (default build/exaone) and serves the bundled random-weight model
models/exaone4-tiny on a free loopback port. `server` is one server shared by the whole session;
`start_server(*flags)` starts others (API key, small queue, small body limit, ...) that are stopped, and
checked to exit cleanly, when the test ends.
"""

import os
import re
import signal
import subprocess
import threading
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("EXAONE_BINARY") or os.path.join(ROOT, "build", "exaone")
MODEL = os.path.join(ROOT, "models", "exaone4-tiny")
MODEL_NAME = "exaone4-tiny"
READY = re.compile(r"exaone serve: listening on (http://127\.0\.0\.1:(\d+))")
START_TIMEOUT = 60
STOP_TIMEOUT = 30


class Server:
    """One running `exaone serve` process."""

    def __init__(self, *flags, env=None):
        if not os.access(BINARY, os.X_OK):
            pytest.fail(f"{BINARY} is not an executable (build the project or set EXAONE_BINARY)")
        self.flags = list(flags)
        cmd = [BINARY, "serve", "-m", MODEL, "--host", "127.0.0.1", "--port", "0", *self.flags]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, **(env or {})})
        self.pid = self.proc.pid
        self.lines = []
        self.base_url = None
        self.port = None
        self._ready = threading.Event()
        # Drain stderr for the whole life of the process so that it never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(2)
                pytest.fail(f"exaone serve exited with {self.proc.returncode} before listening:\n{self.log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"exaone serve did not print 'listening on' within {START_TIMEOUT} s:\n{self.log()}")

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = READY.search(line)
            if m and not self._ready.is_set():
                self.base_url, self.port = m.group(1), int(m.group(2))
                self._ready.set()

    def log(self):
        return "\n".join(self.lines[-60:])

    @property
    def url(self):
        return self.base_url

    def rss_kib(self):
        """The process's resident set size (VmRSS) in KiB."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/PID/status")

    def metrics(self, headers=None):
        """GET /metrics parsed into {(name, frozenset(labels)): value} (Prometheus text format)."""
        r = requests.get(self.base_url + "/metrics", headers=headers or {}, timeout=10)
        assert r.status_code == 200, r.text
        return parse_metrics(r.text)

    def metric(self, name, headers=None, **labels):
        """The sum of a metric's samples whose labels include `labels`."""
        total = 0.0
        for (n, ls), v in self.metrics(headers).items():
            if n == name and set(labels.items()) <= set(ls):
                total += v
        return total

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM (or `sig`), then assert a clean exit (code 0) within STOP_TIMEOUT seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._reader.join(2)
                raise AssertionError(f"exaone serve did not exit within {STOP_TIMEOUT} s of {sig.name}:\n{self.log()}")
        self._reader.join(5)
        assert self.proc.returncode == 0, \
            f"exaone serve exited with {self.proc.returncode} after a stop signal:\n{self.log()}"


METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Parses Prometheus text exposition; fails on any line that is neither a comment nor a sample."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = METRIC_LINE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        value = m.group(4)
        out[(m.group(1), labels)] = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
    return out


@pytest.fixture(scope="session")
def server():
    """The shared server: default flags with --parallel 4."""
    s = Server("--parallel", "4")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def base_url(server):
    return server.base_url


@pytest.fixture
def start_server():
    """Factory: start_server("--api-key", "k") -> Server; each is stopped (clean exit asserted) after the test."""
    started = []

    def start(*flags, env=None):
        s = Server(*flags, env=env)
        started.append(s)
        return s

    yield start
    errors = []
    for s in started:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def wait_until(predicate, timeout=10.0, interval=0.1):
    """Polls predicate() until it is truthy or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
