// Command argocd is Argo CD's multi-call binary (github.com/argoproj/argo-cd/v3/cmd/main.go) cut
// down to the components the sandbox runs: it dispatches on its file name (or ARGOCD_BINARY_NAME)
// to Argo CD's own argocd-application-controller, argocd-repo-server and argocd-git-ask-pass
// commands, exactly as upstream's main does, without linking the API server, Dex, the CLI and
// the notification controller that the sandbox does not run.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func init() {
	// As upstream: klog uses the configured log level and format.
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

func main() {
	name := filepath.Base(os.Args[0])
	if v := os.Getenv("ARGOCD_BINARY_NAME"); v != "" {
		name = v
	}
	var command *cobra.Command
	switch name {
	case "argocd-application-controller":
		command = appcontroller.NewCommand()
	case "argocd-repo-server":
		command = reposerver.NewCommand()
	case "argocd-git-ask-pass":
		command = gitaskpass.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "%s: run as argocd-application-controller or argocd-repo-server (file name or ARGOCD_BINARY_NAME)\n", name)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
