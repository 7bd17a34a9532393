"""The only code that drives Pulumi."""
