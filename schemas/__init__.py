"""Pydantic models of every salespulse message (placeholder until the schema change lands)."""
