//go:build tools

// Package tools pins the main package that `make argo-rollouts` builds into bin/argo-rollouts.
package tools

import (
	_ "github.com/argoproj/argo-rollouts/cmd/rollouts-controller"
)
