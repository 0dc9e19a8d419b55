package maildir

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
)

// nameAttempts bounds the retries when a unique name is taken.
const nameAttempts = 10

// deliverCopy writes one copy (with Delivered-To: rcpt unless rcpt is "")
// and returns its path in new.
func (m *Maildir) deliverCopy(ctx context.Context, d *envelope.Delivery, rcpt string) (string, error) {
	f, tmp, err := m.createTmp()
	if err != nil {
		return "", err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.Remove(tmp)
		}
	}()
	err = m.writeMessage(ctx, f, d, rcpt)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	path, err := m.publish(tmp)
	if err != nil {
		return "", err
	}
	committed = true
	_ = os.Remove(tmp) // the message lives on in new; a leftover tmp name is harmless
	return path, syncDir(filepath.Join(m.dir, "new"))
}

// createTmp creates a new file in tmp under a fresh unique name.
func (m *Maildir) createTmp() (*os.File, string, error) {
	for range nameAttempts {
		path := filepath.Join(m.dir, "tmp", m.uniqueName())
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, m.opts.FileMode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, path, err
	}
	return nil, "", fmt.Errorf("no free name in %s after %d attempts", filepath.Join(m.dir, "tmp"), nameAttempts)
}

// publish links tmp into new under a fresh name (its own when free), or
// renames it where hard links are not supported.
func (m *Maildir) publish(tmp string) (string, error) {
	name := filepath.Base(tmp)
	for range nameAttempts {
		dst := filepath.Join(m.dir, "new", name)
		err := os.Link(tmp, dst)
		switch {
		case err == nil:
			return dst, nil
		case errors.Is(err, fs.ErrExist):
			name = m.uniqueName()
			continue
		}
		if _, serr := os.Lstat(dst); serr == nil {
			name = m.uniqueName()
			continue
		}
		if rerr := os.Rename(tmp, dst); rerr != nil {
			return "", fmt.Errorf("link: %v; rename: %w", err, rerr)
		}
		return dst, nil
	}
	return "", fmt.Errorf("no free name in %s after %d attempts", filepath.Join(m.dir, "new"), nameAttempts)
}

// writeMessage writes the added header lines and the content.
func (m *Maildir) writeMessage(ctx context.Context, f *os.File, d *envelope.Delivery, rcpt string) error {
	eol := "\n"
	if m.opts.KeepCRLF {
		eol = "\r\n"
	}
	w := bufio.NewWriterSize(f, 64*1024)
	fmt.Fprintf(w, "Return-Path: <%s>%s", headerSafe(d.From.Addr), eol)
	if rcpt != "" {
		fmt.Fprintf(w, "Delivered-To: %s%s", headerSafe(rcpt), eol)
	}
	rc, err := d.Open(ctx)
	if err != nil {
		return fmt.Errorf("cannot read queued message: %w", err)
	}
	defer rc.Close()
	var dst io.Writer = w
	lf := &lfWriter{w: w}
	if !m.opts.KeepCRLF {
		dst = lf
	}
	if _, err := io.Copy(dst, ctxReader{ctx, rc}); err != nil {
		return err
	}
	if !m.opts.KeepCRLF {
		if err := lf.Close(); err != nil {
			return err
		}
	}
	return w.Flush()
}

// headerSafe replaces control characters, which would break the header
// line, with "?".
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// syncDir fsyncs a directory, making the entries in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ctxReader stops reading when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// lfWriter turns CRLF into LF; a CR not followed by LF is kept.
type lfWriter struct {
	w   io.Writer
	cr  bool // a CR is held back, waiting for the next byte
	buf []byte
}

func (l *lfWriter) Write(p []byte) (int, error) {
	n := len(p)
	out := l.buf[:0]
	for _, c := range p {
		if l.cr {
			l.cr = false
			if c != '\n' {
				out = append(out, '\r')
			}
		}
		if c == '\r' {
			l.cr = true
			continue
		}
		out = append(out, c)
	}
	l.buf = out
	if _, err := l.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}

// Close writes a CR still held back.
func (l *lfWriter) Close() error {
	if !l.cr {
		return nil
	}
	l.cr = false
	_, err := l.w.Write([]byte{'\r'})
	return err
}
