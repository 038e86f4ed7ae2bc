"""Launchers: experiment declarations, runners and one absl entry module per agent."""
