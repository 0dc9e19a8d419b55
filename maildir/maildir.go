package maildir

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// Options configure a Maildir. Every zero value has a default.
type Options struct {
	Hostname     string      // in unique names; default this machine's host name
	PerRecipient bool        // one copy per recipient, each with Delivered-To
	KeepCRLF     bool        // store CRLF line ends as queued; default LF
	FileMode     os.FileMode // default 0600
	DirMode      os.FileMode // for tmp, new and cur when created; default 0700
	Now          func() time.Time
	Logger       *slog.Logger
}

// Maildir delivers into one maildir. It is safe for concurrent use.
type Maildir struct {
	dir  string
	opts Options
	host string // sanitized for file names
	pid  int
	seq  atomic.Uint64
}

// New returns a Maildir for dir, creating dir and its tmp, new and cur
// subdirectories when missing.
func New(dir string, opts Options) (*Maildir, error) {
	if dir == "" {
		return nil, errors.New("maildir: empty directory")
	}
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		opts.Hostname = h
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o600
	}
	if opts.DirMode == 0 {
		opts.DirMode = 0o700
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), opts.DirMode); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	return &Maildir{dir: dir, opts: opts, host: sanitizeHost(opts.Hostname), pid: os.Getpid()}, nil
}

// Dir returns the maildir's directory.
func (m *Maildir) Dir() string { return m.dir }

// sanitizeHost writes the characters a maildir name cannot hold as octal
// escapes, as Courier and Dovecot do.
func sanitizeHost(h string) string {
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(h)
}

// uniqueName returns the next "<seconds>.<pid>_<seq>.<host>".
func (m *Maildir) uniqueName() string {
	return strconv.FormatInt(m.opts.Now().Unix(), 10) + "." + strconv.Itoa(m.pid) + "_" +
		strconv.FormatUint(m.seq.Add(1), 10) + "." + m.host
}

// Deliver writes d into the maildir: one copy for all recipients, or one
// per recipient with Options.PerRecipient.
func (m *Maildir) Deliver(ctx context.Context, d *envelope.Delivery) []envelope.RcptResult {
	out := make([]envelope.RcptResult, len(d.To))
	if !m.opts.PerRecipient {
		path, err := m.deliverCopy(ctx, d, "")
		for i, r := range d.To {
			out[i] = m.result(d, r.Addr, path, err)
		}
		return out
	}
	for i, r := range d.To {
		path, err := m.deliverCopy(ctx, d, r.Addr)
		out[i] = m.result(d, r.Addr, path, err)
	}
	return out
}

// result renders the outcome for one recipient and logs it.
func (m *Maildir) result(d *envelope.Delivery, rcpt, path string, err error) envelope.RcptResult {
	if err != nil {
		enhanced := "4.3.0"
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			enhanced = "4.3.1"
		}
		m.opts.Logger.Warn("maildir: deferred", "queue_id", d.QueueID, "rcpt", rcpt, "dir", m.dir, "error", err)
		return envelope.RcptResult{Rcpt: rcpt, Status: envelope.Deferred, Enhanced: enhanced,
			Text: fmt.Sprintf("maildir %s: %v", m.dir, err)}
	}
	m.opts.Logger.Debug("maildir: delivered", "queue_id", d.QueueID, "rcpt", rcpt, "path", path)
	return envelope.RcptResult{Rcpt: rcpt, Status: envelope.Delivered, Enhanced: "2.0.0",
		Text: "delivered to maildir as " + path, Handoff: envelope.HandoffFinal}
}
