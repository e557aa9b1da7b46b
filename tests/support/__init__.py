"""Helpers shared by test tiers (servers in threads, scripted transports, process runners)."""
