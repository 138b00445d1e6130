"""Grading engines. Each returns the same `Grade` (see grader.engines.base.Engine)."""
