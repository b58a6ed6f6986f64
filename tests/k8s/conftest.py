"""The API test server's own tests use its fixtures."""

from tests.k8s.fixtures import k8s_api, k8s_api_server

__all__ = ["k8s_api", "k8s_api_server"]
