"""Agents: one package per agent (config, builder, networks, learning)."""
