"""Rollouts (Ray actors), episode logs, metrics, the command line, the pipeline and reports."""
