"""The `snap` command: one small module per command group, each parse → API → print."""
