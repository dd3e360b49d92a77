"""The pure parts of the control-plane build: etcd's module, the pinned cache paths and stamps, and the
one-line messages a newcomer gets when something is missing or fails (no Go, no network, no cluster)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ecs_operator.devcluster import build, controlplane, versions


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ECS_OPERATOR_CACHE", str(tmp_path))
    monkeypatch.delenv("ECS_ETCD_BINARY", raising=False)
    return tmp_path


def fake_build(kubernetes: bool = True, etcd: bool = True) -> None:
    """What a finished build leaves in the cache, without building anything."""
    if kubernetes:
        build.bin_dir().mkdir(parents=True)
        for name in build.ALL_BINARIES:
            (build.bin_dir() / name).write_text("")
        (build.bin_dir() / ".complete").write_text(build._stamp())
    if etcd:
        build.etcd_binary().parent.mkdir(parents=True)
        build.etcd_binary().write_text("")
        (build.etcd_binary().parent / ".complete").write_text(build._etcd_stamp())


def test_etcd_is_pinned_to_a_v3_6_release_of_the_server_module():
    assert versions.ETCD_VERSION.startswith("v3.6.")
    assert build.ETCD_MODULE == "go.etcd.io/etcd/server/v3"


def test_etcd_go_mod_requires_the_pinned_server_module_and_nothing_else():
    gomod = build._etcd_module("v3.6.99")
    lines = gomod.splitlines()
    assert lines[0] == "module ecs-operator.local/etcd"
    assert "go 1.26" in lines
    assert "require go.etcd.io/etcd/server/v3 v3.6.99" in lines
    assert "replace" not in gomod and "exclude" not in gomod  # etcd 3.6 needs neither


def test_etcd_main_is_etcds_own_main():
    main = build.ETCD_MAIN_GO
    assert "package main" in main
    assert '"go.etcd.io/etcd/server/v3/etcdmain"' in main
    assert "etcdmain.Main(os.Args)" in main
    assert '\t"os"' in main  # gofmt indentation: tabs


def test_etcd_cache_path_and_stamp_carry_the_pin(cache, monkeypatch):
    before_dir, before_stamp, kubernetes_dir = build.etcd_dir(), build._etcd_stamp(), build.bin_dir()
    assert versions.ETCD_VERSION in str(before_dir)
    assert json.loads(before_stamp)["etcd"] == versions.ETCD_VERSION
    monkeypatch.setattr(versions, "ETCD_VERSION", "v3.6.999")
    assert build.etcd_dir() != before_dir and "v3.6.999" in str(build.etcd_dir())
    assert build._etcd_stamp() != before_stamp
    assert build.bin_dir() == kubernetes_dir  # an etcd pin change does not rebuild Kubernetes
    monkeypatch.setattr(versions, "KUBERNETES_VERSION", "v1.99.0")
    assert build.etcd_dir().name == "etcd-v3.6.999"  # nor a Kubernetes pin change etcd


def test_binaries_ready_needs_etcd_too(cache):
    assert not build.binaries_ready()
    fake_build(etcd=False)
    assert not build.binaries_ready()
    fake_build(kubernetes=False)
    assert build.binaries_ready()


def test_an_etcd_pin_change_makes_only_etcd_stale(cache, monkeypatch):
    fake_build()
    monkeypatch.setattr(versions, "ETCD_VERSION", "v3.6.999")
    assert build._kubernetes_ready()
    assert not build.etcd_ready() and not build.binaries_ready()


def test_an_etcd_stamp_of_another_pin_is_not_ready(cache):
    fake_build()
    (build.etcd_binary().parent / ".complete").write_text(json.dumps({"etcd": "v3.6.0"}))
    assert not build.etcd_ready()


def test_build_builds_only_what_is_stale_and_numbers_its_steps(cache, monkeypatch, capsys):
    fake_build(etcd=False)
    calls: list[str] = []
    monkeypatch.setattr(build, "ensure_system_packages", lambda: calls.append("system"))
    monkeypatch.setattr(build, "require_go", lambda: calls.append("go"))
    monkeypatch.setattr(build, "_build_kubernetes",
                        lambda target, step: calls.append(f"kubernetes {next(step)} {next(step)} {next(step)}"))
    monkeypatch.setattr(build, "_build_etcd", lambda step: calls.append(f"etcd {next(step)} {next(step)}"))
    build.build()
    assert calls == ["system", "go", "etcd [1/2] [2/2]"]
    calls.clear()
    build.build(force=True)
    assert calls == ["system", "go", "kubernetes [1/5] [2/5] [3/5]", "etcd [4/5] [5/5]"]
    fake_build(kubernetes=False)
    calls.clear()
    build.build()
    assert calls == ["system"]  # up to date: no Go needed
    assert "up to date" in capsys.readouterr().out


def test_no_go_is_one_line_saying_where_to_get_it(monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda cmd: None)
    with pytest.raises(SystemExit) as exc:
        build.require_go()
    message = str(exc.value)
    assert "\n" not in message and message.startswith("error: Go >= 1.26")
    assert "https://go.dev/dl/" in message


def test_a_failed_build_step_ends_in_one_line_naming_the_log(tmp_path, capsys):
    log = tmp_path / "build.log"
    log.write_text("$ go build\n./main.go:9:2: undefined: etcdmain.Nope\n")
    with pytest.raises(SystemExit) as exc:
        build._run(["false"], tmp_path, log, "building etcd v3.6.16")
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"error: building etcd v3.6.16 failed; see {log}; ")
    assert "undefined: etcdmain.Nope" in capsys.readouterr().err  # the log's end, shown above it
    assert "$ false" in log.read_text()  # the full log is kept


@pytest.mark.parametrize(("output", "hint"), [
    ("dial tcp: lookup goproxy.example: no such host", "could not be reached"),
    ("go: go.etcd.io/etcd/server/v3@v3.6.99: reading https://goproxy.example/...: 404 Not Found", "does not exist"),
    ("write /root/.cache/go-build/x: no space left on device", "disk is full"),
    ("./main.go:3:2: syntax error", "run `make controlplane` again"),
])
def test_failure_hints(output, hint):
    assert hint in build._failure_hint(output)


def test_missing_openssl_not_root_says_which_command_to_run(monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda cmd: None if cmd == "openssl" else f"/usr/bin/{cmd}")
    monkeypatch.setattr(build.os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as exc:
        build.ensure_system_packages()
    message = str(exc.value)
    assert "\n" not in message
    assert "`sudo apt-get update && sudo apt-get install -y openssl`" in message


def test_missing_openssl_as_root_is_installed_with_apt_get(monkeypatch, capsys):
    installed: list[list[str]] = []
    monkeypatch.setattr(build.shutil, "which",
                        lambda cmd: None if cmd == "openssl" and not installed else f"/usr/bin/{cmd}")
    monkeypatch.setattr(build.os, "geteuid", lambda: 0)

    def run(cmd, **kwargs):
        if cmd[:2] == ["apt-get", "install"]:
            installed.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(build.subprocess, "run", run)
    build.ensure_system_packages()
    assert installed and installed[0][-1] == "openssl"
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("installing openssl")


def test_etcd_binary_is_the_built_one_unless_overridden(cache, monkeypatch, tmp_path):
    with pytest.raises(controlplane.ControlPlaneError, match="run `make controlplane`"):
        controlplane.etcd_binary()
    fake_build()
    assert controlplane.etcd_binary() == str(build.etcd_binary())
    other = tmp_path / "my-etcd"
    other.write_text("")
    other.chmod(0o755)
    monkeypatch.setenv("ECS_ETCD_BINARY", str(other))
    assert controlplane.etcd_binary() == str(other)


def test_free_ports_are_distinct():
    ports = controlplane._free_ports()
    assert set(ports) == set(controlplane.PORT_NAMES)
    assert len(set(ports.values())) == len(ports)


def plane_with_log(tmp_path: Path, component: str, log: str) -> controlplane.ControlPlane:
    plane = controlplane.ControlPlane(tmp_path)
    plane.ports = {"etcd": 40001, "apiserver": 40002}
    plane.log_dir.mkdir()
    plane.log(component).write_text(log)
    return plane


def test_a_component_that_dies_is_named_with_its_log_and_cause(tmp_path):
    fatal = json.dumps({"level": "fatal", "msg": "discovery failed", "error": "member ecs-dev has already been"
                        " bootstrapped"})
    plane = plane_with_log(tmp_path, "etcd", '{"level":"warn","msg":"x"}\n' + fatal + "\n")
    error = plane._exited("etcd", 1)
    message = str(error)
    assert type(error) is controlplane.ControlPlaneError and "\n" not in message
    assert message.startswith("etcd exited at start with status 1 (discovery failed: member ecs-dev")
    assert message.endswith(f"see {plane.log('etcd')}")


def test_klog_errors_are_the_cause_of_a_kubernetes_component(tmp_path):
    plane = plane_with_log(tmp_path, "kube-apiserver", 'I1203 04:00:00.1 1 x.go:1] fine\n'
                           'E1203 04:00:01.2 1 run.go:72] "command failed" err="bad flag"\nbye\n')
    assert '"command failed" err="bad flag"' in str(plane._exited("kube-apiserver", 1))


def test_a_taken_port_says_which_port_and_what_to_do(tmp_path):
    plane = plane_with_log(tmp_path, "kube-apiserver",
                           'E1203 run.go:72] "command failed" err="failed to create listener: failed to listen on '
                           '127.0.0.1:40002: listen tcp 127.0.0.1:40002: bind: address already in use"\n')
    error = plane._exited("kube-apiserver", 1)
    assert isinstance(error, controlplane.PortTakenError)
    message = str(error)
    assert "\n" not in message
    assert "127.0.0.1:40002 (apiserver port)" in message and "run again" in message
