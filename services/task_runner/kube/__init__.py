"""The task-runner's Kubernetes mode: tasks run as Jobs (klt-facts §4.2-§4.5). Pure builders in ``jobs`` and
``functions``; the only module that talks to the API is ``runner``."""
