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
# etcd comes from Debian's etcd-server package (3.4.x), which kube-apiserver accepts.
ETCD_DEBIAN_PACKAGE = "etcd-server"
