"""Build the pinned control-plane binaries from Go modules into a cache.

k8s.io/kubernetes is not meant to be depended on: its go.mod replaces every k8s.io staging
module with ./staging/src/..., which a module download does not contain. So we build it from
a small tools module of ours that requires k8s.io/kubernetes and replaces each staging module
with its published v0.Y.Z twin. The list of staging modules is read from k8s.io/kubernetes's
own go.mod, so a new release with a new staging module needs no code change here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import versions

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-scheduler", "kube-controller-manager", "kubectl")
ALL_BINARIES = (*KUBERNETES_COMMANDS, "kwok")


def cache_root() -> Path:
    override = os.environ.get("ECS_OPERATOR_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecs-operator"


def bin_dir() -> Path:
    """Where the binaries of the current pins live; the pins are in the path."""
    return cache_root() / f"k8s-{versions.KUBERNETES_VERSION}-kwok-{versions.KWOK_VERSION}" / "bin"


def _stamp() -> str:
    return json.dumps(
        {"kubernetes": versions.KUBERNETES_VERSION, "kwok": versions.KWOK_VERSION}, sort_keys=True
    )


def binaries_ready() -> bool:
    stamp = bin_dir() / ".complete"
    return stamp.is_file() and stamp.read_text() == _stamp() and all(
        (bin_dir() / name).is_file() for name in ALL_BINARIES
    )


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    # Go 1.27 enables jsonv2, and kube-openapi then serves a malformed /openapi/v2.
    env["GOEXPERIMENT"] = "nojsonv2"
    env.setdefault("GOFLAGS", "-mod=mod")
    return env


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    print(f"  $ {' '.join(cmd[:4])}{' …' if len(cmd) > 4 else ''}", flush=True)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=_go_env(), stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-40:]
        raise SystemExit(f"build step failed ({' '.join(cmd[:3])}); last lines of {log}:\n" + "\n".join(tail))


def _staging_modules(kubernetes_version: str, workdir: Path, log: Path) -> list[str]:
    """The k8s.io modules that k8s.io/kubernetes replaces with ./staging directories."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{kubernetes_version}"],
        cwd=workdir, env=_go_env(), capture_output=True, text=True,
    )
    if out.returncode != 0:
        log.write_text(out.stdout + out.stderr)
        raise SystemExit(f"cannot download k8s.io/kubernetes@{kubernetes_version}: {out.stderr or out.stdout}")
    gomod = Path(json.loads(out.stdout)["GoMod"]).read_text()
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", gomod, re.M)))


def _tools_module(kubernetes_version: str, staging: list[str]) -> str:
    minor = kubernetes_version.lstrip("v").split(".", 1)[1]  # v1.37.2 -> 37.2
    lines = [
        "module ecs-operator.local/k8s-tools",
        "",
        "go 1.26",
        "",
        f"require k8s.io/kubernetes {kubernetes_version}",
        "",
        "tool (",
        *(f"\tk8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS),
        ")",
        "",
        "replace (",
        *(f"\t{module} => {module} v0.{minor}" for module in staging),
        ")",
        "",
    ]
    return "\n".join(lines)


def build(force: bool = False) -> Path:
    """Build every pinned binary unless the cache already holds this exact set."""
    target = bin_dir()
    if binaries_ready() and not force:
        print(f"control-plane binaries up to date in {target}", flush=True)
        return target
    if shutil.which("go") is None:
        raise SystemExit("Go is required to build the control plane (https://go.dev/doc/install)")
    src = target.parent / "src"
    src.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    log = target.parent / "build.log"
    log.write_text("")
    started = time.monotonic()
    kver = versions.KUBERNETES_VERSION
    print(f"building Kubernetes {kver} and kwok {versions.KWOK_VERSION} into {target}", flush=True)
    print("[1/3] resolving the tools module (staging replaces)", flush=True)
    staging = _staging_modules(kver, src, log)
    (src / "go.mod").write_text(_tools_module(kver, staging))
    _run(["go", "mod", "tidy"], src, log)
    major, minor = kver.lstrip("v").split(".")[:2]
    ldflags = " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={kver}",
            f"-X k8s.io/component-base/version.gitMajor={major}",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
            "-X k8s.io/component-base/version.gitTreeState=clean",
            f"-X k8s.io/client-go/pkg/version.gitVersion={kver}",
            f"-X k8s.io/client-go/pkg/version.gitMajor={major}",
            f"-X k8s.io/client-go/pkg/version.gitMinor={minor}",
        ]
    )
    print(f"[2/3] go build {', '.join(KUBERNETES_COMMANDS)} (cold: several minutes)", flush=True)
    _run(
        ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(target),
         *(f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS)],
        src, log,
    )
    print(f"[3/3] go install sigs.k8s.io/kwok/cmd/kwok@{versions.KWOK_VERSION}", flush=True)
    env_bin = dict(_go_env(), GOBIN=str(target))
    with log.open("a") as out:
        proc = subprocess.run(
            ["go", "install", "-trimpath", "-ldflags", "-s -w",
             f"sigs.k8s.io/kwok/cmd/kwok@{versions.KWOK_VERSION}"],
            cwd=src, env={**env_bin, "GOFLAGS": ""}, stdout=out, stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0:
        raise SystemExit(f"kwok build failed; see {log}")
    (target / ".complete").write_text(_stamp())
    print(f"control plane built in {time.monotonic() - started:.0f} s: {target}", flush=True)
    return target


def helm_binary() -> Path:
    return cache_root() / f"helm-{versions.HELM_VERSION}" / "bin" / "helm"


def build_helm() -> Path:
    """helm, for the chart checks: its module has no replace directives, so `go install` works."""
    target = helm_binary()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log = target.parent.parent / "build.log"
    print(f"building helm {versions.HELM_VERSION} into {target.parent} (cold: a few minutes)", flush=True)
    with log.open("w") as out:
        proc = subprocess.run(
            ["go", "install", "-trimpath", "-ldflags", "-s -w", f"helm.sh/helm/v3/cmd/helm@{versions.HELM_VERSION}"],
            env={**_go_env(), "GOBIN": str(target.parent), "GOFLAGS": ""}, stdout=out, stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0:
        raise SystemExit(f"helm build failed; see {log}")
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--helm" in args:
        print(build_helm())
        return 0
    build(force="--force" in args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
