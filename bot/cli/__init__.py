"""The `storybot` command: one module per group of subcommands, thin adapters over the engine."""
