package peer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// makeLayout creates the queue and data directories the way "postfix
// start" would on first use (post-install create-missing), following the
// installation's own list in meta_directory/postfix-files, and leaves a
// quick-start mark so that start skips its integrity checks. On a slow
// machine those checks take seconds; on a fresh instance they find nothing.
func (p *Postfix) makeLayout(metaDir string) error {
	f, err := os.Open(filepath.Join(metaDir, "postfix-files"))
	if err != nil {
		return err
	}
	defer f.Close()
	vars := map[string]string{
		"$queue_directory": p.QueueDir,
		"$data_directory":  p.DataDir,
		"$mail_owner":      "postfix",
		"$setgid_group":    "postdrop",
	}
	made := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		d, ok, err := parseLayoutLine(sc.Text(), vars)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := d.make(); err != nil {
			return err
		}
		made++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if made == 0 {
		return errors.New("postfix-files lists no queue directories")
	}
	return os.WriteFile(filepath.Join(p.QueueDir, "quick-start"), nil, 0o644)
}

// layoutDir is one directory entry of postfix-files.
type layoutDir struct {
	path     string
	uid, gid int // -1: leave as created
	mode     os.FileMode
}

// parseLayoutLine parses "name:type:owner:group:mode:flags" and keeps
// directories under the queue or data directory.
func parseLayoutLine(line string, vars map[string]string) (layoutDir, bool, error) {
	f := strings.Split(line, ":")
	if len(f) < 5 || f[1] != "d" {
		return layoutDir{}, false, nil
	}
	root, rest, _ := strings.Cut(f[0], "/")
	base, ok := vars[root]
	if !ok || (root != "$queue_directory" && root != "$data_directory") {
		return layoutDir{}, false, nil
	}
	d := layoutDir{path: filepath.Join(base, rest), uid: -1, gid: -1}
	mode, err := strconv.ParseUint(f[4], 8, 32)
	if err != nil {
		return d, false, fmt.Errorf("postfix-files: mode in %q", line)
	}
	d.mode = os.FileMode(mode)
	if owner := expand(f[2], vars); owner != "-" {
		u, err := user.Lookup(owner)
		if err != nil {
			return d, false, err
		}
		d.uid, _ = strconv.Atoi(u.Uid)
	}
	if group := expand(f[3], vars); group != "-" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return d, false, err
		}
		d.gid, _ = strconv.Atoi(g.Gid)
	}
	return d, true, nil
}

// expand replaces a $name known in vars.
func expand(s string, vars map[string]string) string {
	if v, ok := vars[s]; ok {
		return v
	}
	return s
}

// make creates the directory (if missing) with its owner and mode.
func (d layoutDir) make() error {
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return err
	}
	if err := os.Chown(d.path, d.uid, d.gid); err != nil {
		return err
	}
	return os.Chmod(d.path, d.mode)
}
