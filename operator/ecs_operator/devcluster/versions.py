"""Every pinned version of the local control plane, in one place.

Changing a pin here changes the cache directory, so the next `make controlplane`
rebuilds exactly what changed and nothing else.
"""

# Newest Kubernetes release that the installed Go (1.26) builds cleanly. Go 1.27 turns on
# GOEXPERIMENT=jsonv2, which makes this kube-openapi serve a malformed /openapi/v2:
# builds force it off.
KUBERNETES_VERSION = "v1.37.2"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"
# etcd is built from its Go module go.etcd.io/etcd/server/v3 (package etcdmain), like the others:
# the newest v3.6.x on the Go module proxy; it needs Go >= 1.26 and no replace or exclude.
ETCD_VERSION = "v3.6.16"
