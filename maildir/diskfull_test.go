package maildir

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

// TestDiskFull delivers into a 64 KiB tmpfs: a message that does not fit
// is deferred with 4.3.1 and leaves nothing behind, and delivery works
// again once there is room. It needs root (mount) and skips otherwise.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mountPoint := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mountPoint).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mountPoint, err, out)
		}
	})
	dir := filepath.Join(mountPoint, "mail")
	m, err := New(dir, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 2048) // 128 KiB
	for _, r := range m.Deliver(context.Background(), delivery("a@x", []string{"b@y"}, big)) {
		if r.Status != envelope.Deferred || r.Enhanced != "4.3.1" || !strings.Contains(r.Text, "no space left on device") {
			t.Errorf("result %+v, want deferred 4.3.1", r)
		}
	}
	if tmp, n := files(t, dir, "tmp"), files(t, dir, "new"); len(tmp)+len(n) != 0 {
		t.Errorf("left behind: tmp %v, new %v", tmp, n)
	}
	for _, r := range m.Deliver(context.Background(), delivery("a@x", []string{"b@y"}, content)) {
		if r.Status != envelope.Delivered {
			t.Errorf("after the failure: %+v", r)
		}
	}
}
