"""Distributed tuning when someone else is on the network: real chief and worker processes over
loopback, and real gRPC clients and servers that misbehave (no mocks of gRPC).

* The chief listens on 127.0.0.1 only, answers nothing without the shared token, lets nobody
  add names to the search space, end or update another worker's trial, or wedge its lock with
  calls KerasTuner's oracle would raise on; the study then finishes as if nothing happened.
* A worker refuses a trial from a rogue chief whose names are not in its own `search.space`,
  whose values leave it, or whose id would name a folder outside its batch size's folder.
* TLS when certificates are given; a port in use and bad flags end in one line with exit 2.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
from concurrent import futures

import grpc
import keras_tuner as kt
import pytest
from keras_tuner.src import protos
from keras_tuner.src.engine import trial as trial_module

from distributed_helpers import (expect_one_line_failure, expect_success, free_port, log_text, one_line_error,
                                 running_trial, start, stop_all, wait_for)
from helpers import run_cli

pytestmark = pytest.mark.slow

BASE = "digits/mlp/momentum"
SHORT = ["--set", "target.threshold=0.0", "--set", "budget.max_steps=150"]
TOKEN = "rogue-test-token-0123456789"


class Rogue:
    """A plain gRPC client of the oracle service, sending whatever metadata it is given."""

    def __init__(self, port, token=None, worker="rogue-1", credentials=None):
        address = f"127.0.0.1:{port}"
        self.channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
        self.stub = protos.get_service_grpc().OracleStub(self.channel)
        self.metadata = [("tfbsz-worker-id", worker)] + ([("tfbsz-oracle-token", token)] if token else [])

    def call(self, method, request):
        """`(status code, response or None)`."""
        try:
            return grpc.StatusCode.OK, getattr(self.stub, method)(request, timeout=20, metadata=self.metadata)
        except grpc.RpcError as e:
            return e.code(), None

    def close(self):
        self.channel.close()


def service():
    return protos.get_service()


def space_with(*names):
    hp = kt.HyperParameters()
    for name in names:
        if name == "init.from":
            hp.Choice(name, ["/srv/data"])
        else:
            hp.Float(name, 0.01, 1.0)
    return hp


def end_request(trial):
    return service().EndTrialRequest(trial=trial.to_proto())


def current_trial(worker_proc):
    """(batch size, trial id) of the last trial the worker's log shows starting."""
    line = [ln for ln in log_text(worker_proc).splitlines() if "] start" in ln][-1]
    inside = line[line.index("[bs ") + 4: line.index("]")]
    bs, _, trial_id = inside.partition(" trial ")
    return int(bs), trial_id


def test_the_chief_admits_only_its_own_workers(tmp_path):
    out = tmp_path / "study"
    port = free_port()
    env = {"TFBSZ_WORKER_TIMEOUT": "60", "TFBSZ_CHIEF_TIMEOUT": "120"}
    chief = start("chief", out, port, tmp_path, "chief", SHORT, **env)
    procs, rogues = [chief], []
    try:
        token_file = out / ".tfbsz_oracle_token"
        wait_for(token_file.exists, chief, 180, "the chief's token file")
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        wait_for(lambda: _accepts("127.0.0.1", port), chief, 180, "the chief listens")
        assert not _accepts("127.0.0.2", port), "the chief listens beyond 127.0.0.1 without --bind"

        # Outsiders: no token, or a wrong one.
        for rogue in (Rogue(port), Rogue(port, token="x" * 32)):
            rogues.append(rogue)
            for method, request in [
                ("GetSpace", service().GetSpaceRequest()),
                ("UpdateSpace", service().UpdateSpaceRequest(hyperparameters=space_with("init.from").to_proto())),
                ("CreateTrial", service().CreateTrialRequest(tuner_id="rogue-1")),
                ("EndTrial", end_request(trial_module.Trial(space_with(), trial_id="0", status="COMPLETED"))),
            ]:
                assert rogue.call(method, request)[0] == grpc.StatusCode.UNAUTHENTICATED, method

        # An insider with the token still cannot change the space or wedge the chief.
        insider = Rogue(port, token=token_file.read_text().strip())
        rogues.append(insider)
        update = service().UpdateSpaceRequest(hyperparameters=space_with("init.from", "target.threshold").to_proto())
        assert insider.call("UpdateSpace", update)[0] == grpc.StatusCode.PERMISSION_DENIED
        code, space = insider.call("GetSpace", service().GetSpaceRequest())
        assert code == grpc.StatusCode.OK
        assert [p.name for p in kt.HyperParameters.from_proto(space.hyperparameters).space] == \
            ["optimizer.learning_rate"]
        for tuner_id in ("chief-2", "../x", ""):
            assert insider.call("CreateTrial", service().CreateTrialRequest(tuner_id=tuner_id))[0] == \
                grpc.StatusCode.INVALID_ARGUMENT, tuner_id
        assert insider.call("CreateTrial", service().CreateTrialRequest(tuner_id="someone-else"))[0] == \
            grpc.StatusCode.PERMISSION_DENIED
        # KerasTuner's oracle raises inside its lock on these and never lets go of it.
        assert insider.call("UpdateTrial", service().UpdateTrialRequest(trial_id="99", metrics={"x": 1.0}))[0] == \
            grpc.StatusCode.FAILED_PRECONDITION
        assert insider.call("EndTrial", end_request(trial_module.Trial(space_with(), trial_id="99",
                                                                       status="COMPLETED")))[0] == \
            grpc.StatusCode.FAILED_PRECONDITION
        assert insider.call("GetTrial", service().GetTrialRequest(trial_id="99"))[0] == grpc.StatusCode.NOT_FOUND

        worker = start("worker", out, port, tmp_path, "w0", SHORT, **env)
        procs.append(worker)
        wait_for(lambda: running_trial(worker), worker, 240, "the worker starts a trial")
        bs, trial_id = current_trial(worker)
        bs_port = port + (0 if bs == 16 else 1)
        insider_bs = Rogue(bs_port, token=token_file.read_text().strip())
        posing = Rogue(bs_port, token=token_file.read_text().strip(), worker="w0")
        rogues += [insider_bs, posing]
        code, got = insider_bs.call("GetTrial", service().GetTrialRequest(trial_id=trial_id))
        assert code == grpc.StatusCode.OK
        trial = trial_module.Trial.from_proto(got.trial)
        trial.status = "COMPLETED"
        # Ending another worker's trial (what ended studies early before).
        assert insider_bs.call("EndTrial", end_request(trial))[0] == grpc.StatusCode.PERMISSION_DENIED
        # Posing as that worker with other values.
        trial.hyperparameters.values["optimizer.learning_rate"] = 0.999
        assert posing.call("EndTrial", end_request(trial))[0] == grpc.StatusCode.INVALID_ARGUMENT

        expect_success(chief, [worker])
    finally:
        for rogue in rogues:
            rogue.close()
        stop_all(procs)
    summary = json.loads((out / "summary.json").read_text())
    assert [r["trials"] for r in summary["batch_sizes"]] == [2, 2]
    for metadata in out.glob(f"{BASE}/*/*/metadata.json"):
        parameters = json.loads(metadata.read_text())["parameters"]
        assert sorted(parameters) == ["optimizer.learning_rate", "optimizer.momentum"]
        assert parameters["optimizer.learning_rate"] != 0.999


def _accepts(host, port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


class RogueChief(protos.get_service_grpc().OracleServicer):
    """Hands every worker the same crafted trial."""

    def __init__(self, trial):
        self.trial = trial
        self.asked = threading.Event()

    def CreateTrial(self, request, context):
        self.asked.set()
        return service().CreateTrialResponse(trial=self.trial.to_proto())

    def GetSpace(self, request, context):
        return service().GetSpaceResponse(hyperparameters=self.trial.hyperparameters.to_proto())


def crafted(trial_id="0", **values):
    hp = kt.HyperParameters()
    for name, value in values.items():
        if isinstance(value, str):
            hp.Choice(name, [value])
        else:
            hp.Float(name, min(value, 0.01), max(value, 1.0))
        hp.values[name] = value
    return trial_module.Trial(hp, trial_id=trial_id, status="RUNNING")


@pytest.mark.parametrize("case", ["foreign-name", "absolute-id"])
def test_a_worker_refuses_what_a_rogue_chief_sends(tmp_path, case):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    if case == "foreign-name":
        trial = crafted(**{"optimizer.learning_rate": 0.1, "init.from": str(victim / "keep.txt")})
        expected = "'init.from'"
    else:
        trial = crafted(trial_id=str(victim), **{"optimizer.learning_rate": 0.1})
        expected = "trial id"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rogue = RogueChief(trial)
    protos.get_service_grpc().add_OracleServicer_to_server(rogue, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    out = tmp_path / "study"
    worker = start("worker", out, port, tmp_path, "w0", SHORT, TFBSZ_CHIEF_TIMEOUT="60",
                   TFBSZ_ORACLE_TOKEN="any-token-the-rogue-ignores")
    try:
        line = expect_one_line_failure(worker)
    finally:
        server.stop(grace=0)
    assert rogue.asked.is_set()
    assert expected in line
    assert (victim / "keep.txt").read_text() == "precious"
    assert not list(tmp_path.glob("*.failure.json"))
    assert not list(out.glob(f"{BASE}/*/*/metadata.json"))


def _certificate(folder):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return key, cert


def test_tls_when_certificates_are_given(tmp_path):
    key, cert = _certificate(tmp_path)
    out = tmp_path / "study"
    port = free_port()
    tiny = ["--trials", "1", "--set", "budget.max_steps=30"]
    env = {"TFBSZ_CHIEF_TIMEOUT": "120"}
    chief = start("chief", out, port, tmp_path, "chief", [*tiny, "--tls-cert", str(cert), "--tls-key", str(key)],
                  **env)
    procs, rogues = [chief], []
    try:
        token_file = out / ".tfbsz_oracle_token"
        wait_for(lambda: token_file.exists() and _accepts("127.0.0.1", port), chief, 180, "the chief listens")
        token = token_file.read_text().strip()
        plain = Rogue(port, token=token)
        trusting = Rogue(port, token=token, credentials=grpc.ssl_channel_credentials(cert.read_bytes()))
        rogues += [plain, trusting]
        assert plain.call("GetSpace", service().GetSpaceRequest())[0] == grpc.StatusCode.UNAVAILABLE
        assert trusting.call("GetSpace", service().GetSpaceRequest())[0] == grpc.StatusCode.OK
        worker = start("worker", out, port, tmp_path, "w0", [*tiny, "--tls-ca", str(cert)], **env)
        procs.append(worker)
        expect_success(chief, [worker], timeout=300)
    finally:
        for rogue in rogues:
            rogue.close()
        stop_all(procs)
    assert [r["trials"] for r in json.loads((out / "summary.json").read_text())["batch_sizes"]] == [1, 1]


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chief = start("chief", tmp_path / "study", port, tmp_path, "chief", ["--batch-sizes", "16"])
        assert "the port is in use" in expect_one_line_failure(chief)


def _world_readable_token(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    path.chmod(0o644)
    return str(path)


@pytest.mark.parametrize("args, expected", [
    (["--role", "chief", "--oracle", "127.0.0.1:0"], "--oracle: the port must be a number from 1 to 65535"),
    (["--role", "chief", "--oracle", "127.0.0.1:70000"], "--oracle: the port must be a number from 1 to 65535"),
    (["--role", "worker", "--oracle", "127.0.0.1:65535"], "need ports up to 65536"),
    (["--role", "worker", "--oracle", "127.0.0.1:8000", "--worker-id", "chief-1"], "--worker-id: 'chief-1' contains"),
    (["--role", "worker", "--oracle", "127.0.0.1:8000", "--worker-id", "../x"], "--worker-id: expected"),
    (["--role", "worker", "--oracle", "127.0.0.1:8000", "--bind", "0.0.0.0"], "--bind: not an option of --role worker"),
    (["--role", "chief", "--oracle", "127.0.0.1:8000", "--tls-cert", "x.pem"], "--tls-cert: --tls-cert and --tls-key"),
    (["--oracle", "127.0.0.1:8000"], "--oracle: needs --role"),
    (["--role", "chief", "--oracle", "127.0.0.1:8000", "--token-file", "TOKEN"], "may be read or written by other"),
], ids=["port-0", "port-70000", "ports-beyond-65535", "worker-id-chief", "worker-id-path", "bind-on-worker",
        "cert-without-key", "oracle-without-role", "world-readable-token"])
def test_bad_distributed_flags_are_one_line(tmp_path, args, expected):
    args = [_world_readable_token(tmp_path) if a == "TOKEN" else a for a in args]
    done = run_cli(["--config", "configs/smoke.yaml", "--output", str(tmp_path / "s"), *args], timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert expected in one_line_error(done.stderr)
    assert not (tmp_path / "s").exists()
