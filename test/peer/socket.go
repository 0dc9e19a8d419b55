package peer

import (
	"os"
	"path/filepath"
	"testing"
)

// maxSocketPath is the room for a unix socket path on Linux (sun_path,
// less the terminating NUL).
const maxSocketPath = 107

// SocketPath returns a path named name for a unix-domain socket, in a new
// directory that is removed when the test ends. The directory is short
// (unix socket paths are limited to 107 bytes) and open to Postfix's
// daemons, which run as the postfix user: a test's own temporary
// directory is not. Call AllowPostfix on the socket once it listens.
func SocketPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "peer-sock-")
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("peer: %v", err)
	}
	path := filepath.Join(dir, name)
	if len(path) > maxSocketPath {
		t.Fatalf("peer: socket path %q is longer than %d bytes", path, maxSocketPath)
	}
	return path
}

// AllowPostfix lets Postfix's unprivileged daemons connect to the unix
// socket at path: connecting needs write permission on the socket, which
// a socket created by root under the usual umask (0755) lacks.
func AllowPostfix(t testing.TB, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatalf("peer: %v", err)
	}
}
