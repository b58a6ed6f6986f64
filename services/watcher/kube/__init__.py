"""The watcher's Kubernetes adapters: the API client, list+watch, the cluster as desired state, and (by
their own modules) the pod webhook, gate release, rollout completion and the projection into CRs.

Everything here talks to the API server through kubernetes-asyncio; its exceptions are wrapped in these
modules and never reach the watcher's pure handlers.
"""
