"""Tests of the AutoMon runtime (workloads/automon)."""
