"""The task-runner service: runs KeptnTasks (deno and python) as sandboxed subprocesses (klt-facts §4)."""
