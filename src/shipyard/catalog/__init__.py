"""Backstage components, Score workloads and platform contracts -> typed desired state."""
