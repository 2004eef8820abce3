"""Snapshots: take (scan → hash → upload → publish), restore (plan → apply), refs."""
