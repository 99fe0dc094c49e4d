"""Fixtures that run Berth's emulator for a pytest session.

`berth server --emulate` starts once per session (BERTH_BIN names the
binary; without it, it is built with `go build`), and every test starts
from an empty state through POST /_berth/reset.
"""
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import boto3
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def berth_endpoint():
    binary = os.environ.get("BERTH_BIN")
    workdir = tempfile.mkdtemp(prefix="berth-pytest-")
    if not binary:
        binary = os.path.join(workdir, "berth")
        subprocess.run(["go", "build", "-o", binary, "./cmd/berth"], cwd=REPO, check=True)
    port = _free_port()
    proc = subprocess.Popen([binary, "server", "--emulate", "--listen", f"127.0.0.1:{port}"],
                            env={"PATH": os.environ.get("PATH", ""), "HOME": workdir},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/healthz") as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("berth server --emulate did not become ready")
        time.sleep(0.01)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture
def ecs(berth_endpoint):
    """A boto3 ECS client on an emulator reset to nothing."""
    req = urllib.request.Request(berth_endpoint + "/_berth/reset", method="POST")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    return boto3.client(
        "ecs",
        endpoint_url=berth_endpoint,
        region_name="us-east-1",
        # Berth's documented development key pair.
        aws_access_key_id="AKIABERTHDEVLOCAL000",
        aws_secret_access_key="berth-dev-secret-access-key-do-not-use",
    )
