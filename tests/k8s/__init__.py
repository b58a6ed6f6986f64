"""A Kubernetes API test server for klt's Kubernetes mode: real REST and watch protocol over HTTP(S),
in process, for the unmodified kubernetes-asyncio client. See README.md for what it does and does not do."""

from tests.k8s.jobs import Attempt
from tests.k8s.kubelet import PodPlan
from tests.k8s.server import ApiServer

__all__ = ["ApiServer", "Attempt", "PodPlan"]
