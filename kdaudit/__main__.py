from kdaudit.cli import entrypoint

entrypoint()
