package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/sluice
//
// When empty, the module version from the build info is used.
var version string

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build info",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			info, _ := debug.ReadBuildInfo()
			_, err := io.WriteString(stdout, versionText(version, info))
			return err
		},
	}
}

// versionText renders the version lines from the ldflags value and the
// build info (either may be empty or nil).
func versionText(ldVersion string, info *debug.BuildInfo) string {
	v := ldVersion
	if v == "" && info != nil {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sluice %s\n", v)
	fmt.Fprintf(&b, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if rev, modified := vcsInfo(info); rev != "" {
		if modified {
			rev += " (modified)"
		}
		fmt.Fprintf(&b, "commit: %s\n", rev)
	}
	return b.String()
}

// vcsInfo returns the commit the binary was built from, if recorded.
func vcsInfo(info *debug.BuildInfo) (rev string, modified bool) {
	if info == nil {
		return "", false
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return rev, modified
}
