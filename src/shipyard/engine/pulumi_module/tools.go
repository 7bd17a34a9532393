//go:build tools

// Package tools pins the Pulumi CLI that Shipyard builds from its Go modules.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
